"""One async function per input: call outcomes, AMD verdicts, opt-outs, commands (and the
batch forms the consumer calls)."""

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

import structlog

from switchboard.common.events import (
    CallMachineDetected,
    CallStatusChanged,
    DialCommand,
    Event,
    MessageReceived,
)
from switchboard.dialer.models import (
    is_machine,
    is_opt_out,
    leaves_voicemail,
    outcome_of,
    voicemail_twiml,
)
from switchboard.dialer.phones import normalize
from switchboard.dialer.repository import CallPlacer, DialingStore, DoNotCallList, Pacer

log = structlog.get_logger(__name__)


async def handle_call_event(
    event: Event,
    store: DialingStore,
    pacer: Pacer,
    placer: CallPlacer,
    now: datetime,
) -> None:
    """Terminal statuses end attempts and free their slots; AMD may hang up a machine."""
    data = event.data
    if isinstance(data, CallStatusChanged):
        if not data.status.is_terminal and not data.answered_by:
            return  # progress only: nothing to decide
        slot = await store.apply_call_status(data.call_id, data.status.value, data.answered_by, now)
        if slot is not None:
            await pacer.release_slots(slot.lane, [slot.attempt_id])
    elif isinstance(data, CallMachineDetected):
        verdict = await store.record_machine(data.call_id, data.answered_by)
        if verdict is None:
            return
        if leaves_voicemail(verdict.voicemail, data.answered_by):
            assert verdict.voicemail is not None
            twiml = voicemail_twiml(verdict.voicemail)
            await placer.play_and_hang_up(verdict.slot.account_sid, data.call_id, twiml)
            log.info("machine answered; voicemail left", sid=data.call_id)
            return
        hang_up = verdict.on_machine in ("hangup", "retry")
        if hang_up and is_machine(data.answered_by):
            await placer.hang_up(verdict.slot.account_sid, data.call_id)
            log.info("machine answered; hung up", sid=data.call_id)


def _decides(event: Event) -> CallStatusChanged | CallMachineDetected | None:
    """The call data of events the dialer acts on: terminal statuses and AMD verdicts."""
    data = event.data
    if isinstance(data, CallMachineDetected):
        return data
    if isinstance(data, CallStatusChanged) and (data.status.is_terminal or data.answered_by):
        return data
    return None


async def handle_call_events(
    events: Sequence[Event],
    store: DialingStore,
    pacer: Pacer,
    placer: CallPlacer,
    now: datetime,
) -> None:
    """A batch from ``call.events``: most are not the dialer's calls, so one query picks the
    dialer's; terminal Twilio statuses of unknown sids are kept in one insert, in case their
    sid is being recorded right now."""
    relevant = [(e, d) for e in events if (d := _decides(e)) is not None]
    if not relevant:
        return
    known = await store.known_calls({d.call_id for _, d in relevant})
    early: dict[str, tuple[str, str, str | None]] = {}
    for event, data in relevant:
        if data.call_id in known:
            await handle_call_event(event, store, pacer, placer, now)
        elif (
            isinstance(data, CallStatusChanged)
            and data.provider == "twilio"
            and outcome_of(data.status.value, data.answered_by) is not None
        ):
            early.setdefault(data.call_id, (data.call_id, data.status.value, data.answered_by))
    if not early:
        return
    await store.keep_early(list(early.values()))
    # A sid recorded between the lookup and the insert did not see the kept event: apply it.
    for sid in await store.known_calls(early):
        slot = await store.apply_early(sid, now)
        if slot is not None:
            await pacer.release_slots(slot.lane, [slot.attempt_id])


async def handle_messages(
    events: Sequence[Event], dnc: DoNotCallList, keywords: Iterable[str]
) -> None:
    for event in events:
        await handle_message(event, dnc, keywords)


async def handle_message(event: Event, dnc: DoNotCallList, keywords: Iterable[str]) -> bool:
    """An opt-out keyword puts the sender on the do-not-call list of the event's tenant (the
    owner of the number it was sent to) at once; one naming no tenant is nobody's to guess."""
    data = event.data
    if not isinstance(data, MessageReceived) or not is_opt_out(data.text, keywords):
        return False
    contact = data.contact if data.contact.startswith("+") else f"+{data.contact}"
    phone = normalize(contact) or contact
    tenant = event.tenant
    if not tenant:
        log.warning("opt-out without a tenant: on no list", event_id=event.id)
        return False
    added = await dnc.add_dnc(tenant, phone, f"opt-out via {data.channel}: {data.text}")
    log.info("opt-out", tenant=tenant, new=added)
    return True


def handle_command(event: Event, wake: Callable[[], None]) -> None:
    """Commands are already applied in PostgreSQL by the API; this replica reacts now."""
    if isinstance(event.data, DialCommand):
        log.info("dial command", campaign=event.data.campaign_id, action=event.data.action)
        wake()
