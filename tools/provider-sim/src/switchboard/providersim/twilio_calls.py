"""The Twilio call lifecycle engine: plan a call, run it, send its signed status callbacks.

Each call gets its own RNG seeded from the run seed and the call's creation index, so a run
with the same seed draws the same outcomes, durations and faults for its n-th call (the sids
themselves are unique, as Twilio's are).
"""

import asyncio
import random
from collections.abc import Sequence
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from switchboard.providersim.limits import TwilioError
from switchboard.providersim.state import CallRecord, SimState, monotonic, utcnow
from switchboard.providersim.twilio_recordings import API_VERSION, callback_params, new_recording
from switchboard.providersim.webhooks import Delivery, WebhookSender, twilio_form

MACHINE_ENDS = ("machine_end_beep", "machine_end_silence", "machine_end_other")
CALLBACK_EVENTS = ("initiated", "ringing", "answered", "completed")
AMD_MODES = ("Enable", "DetectMessageEnd")
DEFAULT_TIMEOUT_S = 60
DEFAULT_TIME_LIMIT_S = 14_400


def rfc2822(value: datetime | None) -> str | None:
    return format_datetime(value) if value is not None else None


def _first(form: Sequence[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in form if k == name), None)


def _int(value: str | None, default: int) -> int:
    return int(value) if value and value.isdigit() else default


class CallEngine:
    """Creates calls against the account limits and runs each one as a background task."""

    def __init__(self, state: SimState, sender: WebhookSender) -> None:
        self._state = state
        self._sender = sender
        self._held: dict[str, list[Delivery]] = {}
        self._chains: dict[str, asyncio.Task[Any]] = {}

    def create(self, account_sid: str, form: Sequence[tuple[str, str]]) -> CallRecord:
        """A new call from the create-call form; :class:`TwilioError` when refused."""
        to, from_ = _first(form, "To"), _first(form, "From")
        if not to:
            raise TwilioError(21201, "No 'To' number is specified", 400)
        if not from_:
            raise TwilioError(21213, "No 'From' number is specified", 400)
        if not (_first(form, "Url") or _first(form, "Twiml") or _first(form, "ApplicationSid")):
            raise TwilioError(21205, "Url parameter is required", 400)
        delay_s = self._state.limiter(account_sid).admit_call(monotonic())
        delay_s += self._state.config.faults.queue_s
        call = self._plan(account_sid, to, from_, form, delay_s)
        self._state.calls[call.sid] = call
        self._state.record(
            "twilio.call.created",
            sid=call.sid,
            account_sid=account_sid,
            to=to,
            outcome=call.outcome,
            queue_time_ms=call.queue_time_ms,
        )
        self._state.spawn(self._run(call, delay_s))
        return call

    async def scenario(
        self,
        account_sid: str,
        count: int,
        rate: float,
        status_callback: str,
        *,
        first_number: int = 0,
        from_: str = "+15005550006",
    ) -> None:
        """``count`` calls created here at ``rate`` per second (0: at once), each with every
        status callback to ``status_callback``: traffic at a steady rate without a REST round
        trip per call. Calls go to ``+1777`` + 7 digits from ``first_number`` on; a call the
        account's limits refuse is recorded and skipped."""
        form = [
            ("From", from_),
            ("Url", "http://sim.invalid/scenario"),
            ("StatusCallback", status_callback),
            *(("StatusCallbackEvent", e) for e in CALLBACK_EVENTS),
        ]
        started = monotonic()
        for i in range(count):
            # By the clock, so a slow tick catches up instead of drifting; the loop yields at
            # every call even when behind, or catching up would starve the webhooks.
            ahead = started + i / rate - monotonic() if rate > 0 else 0.0
            await asyncio.sleep(max(0.0, ahead))
            try:
                self.create(account_sid, [("To", f"+1777{first_number + i:07d}"), *form])
            except TwilioError as exc:
                self._state.record("twilio.scenario.refused", code=exc.code)
            self._state.counters["twilio.scenario.created"] += 1

    def _plan(
        self,
        account_sid: str,
        to: str,
        from_: str,
        form: Sequence[tuple[str, str]],
        delay_s: float,
    ) -> CallRecord:
        cfg = self._state.config
        sid = self._state.new_id("CA")
        rng = random.Random(f"{cfg.seed}:{self._state.next_index()}")  # noqa: S311 - simulation
        mix = cfg.outcomes
        outcome = rng.choices(
            ["completed", "busy", "no-answer", "failed"],
            weights=[mix.completed, mix.busy, mix.no_answer, mix.failed],
        )[0]
        amd = _first(form, "MachineDetection")
        amd = amd if amd in AMD_MODES else None
        answered_by = None
        if amd and outcome == "completed":
            answered_by = mix.answered_by.get(to) or self._amd_verdict(amd, rng)
        events = [v.lower() for k, v in form if k == "StatusCallbackEvent"]
        faults = cfg.faults
        return CallRecord(
            sid=sid,
            account_sid=account_sid,
            to=to,
            from_=from_,
            created_at=utcnow(),
            queue_time_ms=round(delay_s * 1000),
            status_callback=_first(form, "StatusCallback"),
            status_events=tuple(e for e in CALLBACK_EVENTS if e in events) or ("completed",),
            status_method=(_first(form, "StatusCallbackMethod") or "POST").upper(),
            machine_detection=amd,
            async_amd=(_first(form, "AsyncAmd") or "").lower() == "true",
            amd_callback=_first(form, "AsyncAmdStatusCallback"),
            timeout_s=_int(_first(form, "Timeout"), DEFAULT_TIMEOUT_S),
            time_limit_s=_int(_first(form, "TimeLimit"), DEFAULT_TIME_LIMIT_S),
            outcome=outcome,
            ring_s=rng.uniform(*mix.ring_s),
            talk_s=min(mix.talk_max_s, rng.expovariate(1 / mix.talk_mean_s)),
            answered_by=answered_by,
            hold_callbacks=bool(faults.out_of_order_rate)
            and rng.random() < faults.out_of_order_rate,
            drop_final=bool(faults.drop_final_rate) and rng.random() < faults.drop_final_rate,
            rng=rng,
            record=(_first(form, "Record") or "").lower() == "true",
            recording_callback=_first(form, "RecordingStatusCallback"),
            recording_method=(_first(form, "RecordingStatusCallbackMethod") or "POST").upper(),
        )

    def _amd_verdict(self, amd: str, rng: random.Random) -> str:
        mix = self._state.config.outcomes
        if rng.random() >= mix.machine_share:
            return "human"
        if amd == "Enable":
            return "machine_start"
        ends = [e for e in MACHINE_ENDS if mix.machine_ends.get(e, 0) > 0] or ["machine_end_beep"]
        return rng.choices(ends, weights=[mix.machine_ends.get(e, 1.0) for e in ends])[0]

    def redirect(self, call: CallRecord, twiml: str) -> CallRecord:
        """``Twiml=…`` on a live call: what it now plays is kept; a TwiML that ends in
        ``<Hangup/>`` ends the call after ``voicemail_s`` simulated seconds."""
        if call.terminal:
            raise TwilioError(21220, "Call is not in-progress. Cannot redirect.", 400)
        call.twiml_updates.append(twiml)
        self._state.record("twilio.call.twiml", sid=call.sid, twiml=twiml)
        if "<Hangup" in twiml:
            self._state.spawn(self._hang_up_after(call, self._state.config.outcomes.voicemail_s))
        return call

    async def _hang_up_after(self, call: CallRecord, seconds: float) -> None:
        await self._state.sleep_sim(seconds)
        if not call.terminal:
            self.update(call, "completed")

    def update(self, call: CallRecord, status: str | None) -> CallRecord:
        """``Status=canceled|completed``: hang up (a not-yet-answered call ends canceled)."""
        if status not in ("canceled", "completed"):
            raise TwilioError(21218, f"Invalid Status value: {status}", 400)
        if call.terminal:
            return call
        if status == "canceled" and call.status == "in-progress":
            raise TwilioError(21220, "Call is not in a valid state to be canceled", 400)
        call.requested_status = status
        call.hangup.set()  # the lifecycle task sees it and stops
        self._finish(call, "completed" if call.status == "in-progress" else "canceled")
        return call

    async def _wait(self, call: CallRecord, seconds: float, *, scaled: bool = True) -> bool:
        """Sleep; ``True`` when a hang-up was requested meanwhile."""
        real = seconds * self._state.config.time_scale if scaled else seconds
        try:
            await asyncio.wait_for(call.hangup.wait(), timeout=max(0.0, real))
        except TimeoutError:
            return False
        return True

    async def _run(self, call: CallRecord, delay_s: float) -> None:
        limiter = self._state.limiter(call.account_sid)
        try:
            await self._lifecycle(call, delay_s)
        except asyncio.CancelledError:  # reset or shutdown: send nothing more for this call
            self._held.pop(call.sid, None)
            raise
        finally:
            limiter.call_ended()
        held = self._held.pop(call.sid, [])
        if held:
            self._flush_shuffled(call, held)

    async def _lifecycle(self, call: CallRecord, delay_s: float) -> None:
        if await self._wait(call, delay_s, scaled=False):
            return  # hung up (and finished) by an update
        call.started_at = utcnow()
        self._set(call, "initiated", "initiated")
        if call.outcome == "failed":
            return self._finish(call, "failed")
        self._set(call, "ringing", "ringing")
        ring = call.timeout_s if call.outcome == "no-answer" else min(call.ring_s, call.timeout_s)
        if await self._wait(call, ring):
            return
        if call.outcome in ("busy", "no-answer"):
            return self._finish(call, call.outcome)
        call.answered_at = utcnow()
        self._set(call, "in-progress", "answered")
        if call.machine_detection and call.async_amd and call.amd_callback:
            self._state.spawn(self._amd(call))
        if await self._wait(call, min(call.talk_s, call.time_limit_s)):
            return
        return self._finish(call, "completed")

    def _set(self, call: CallRecord, status: str, event: str) -> None:
        call.status, call.updated_at = status, utcnow()
        self._state.record("twilio.call.status", sid=call.sid, status=status)
        self._emit(call, event)

    def _finish(self, call: CallRecord, status: str) -> None:
        call.ended_at = utcnow()
        call.duration_s = 0
        if status == "completed" and call.answered_at is not None:
            planned = min(call.talk_s, call.time_limit_s)
            if call.requested_status:  # hung up early: what really elapsed, in simulated s
                scale = self._state.config.time_scale or 1.0
                planned = (call.ended_at - call.answered_at).total_seconds() / scale
            call.duration_s = max(1, round(planned))
        self._set(call, status, "completed")
        if status == "completed" and call.answered_at is not None and call.record:
            self._recorded(call)

    def _recorded(self, call: CallRecord) -> None:
        recording = new_recording(self._state, call)
        if not call.recording_callback:
            return
        token = self._state.config.twilio_accounts[call.account_sid].auth_token
        delivery = twilio_form(
            "twilio.recording.status",
            call.recording_callback,
            callback_params(recording),
            token,
            call.recording_method,
            key=f"{recording['sid']}:completed",
        )
        self._state.spawn(self._sender.send(delivery, call.rng))

    def _params(self, call: CallRecord) -> dict[str, str]:
        params = {
            "AccountSid": call.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": call.sid,
            "CallStatus": call.status,
            "Called": call.to,
            "Caller": call.from_,
            "CallbackSource": "call-progress-events",
            "Direction": "outbound-api",
            "From": call.from_,
            "SequenceNumber": str(call.sequence),
            "Timestamp": format_datetime(utcnow()),
            "To": call.to,
        }
        if call.terminal:
            params["CallDuration"] = str(call.duration_s or 0)
        if call.answered_by and call.answered_at is not None:
            params["AnsweredBy"] = call.answered_by
        return params

    def _emit(self, call: CallRecord, event: str) -> None:
        if not call.status_callback or event not in call.status_events:
            return
        token = self._state.config.twilio_accounts[call.account_sid].auth_token
        delivery = twilio_form(
            "twilio.call.status",
            call.status_callback,
            self._params(call),
            token,
            call.status_method,
            key=f"{call.sid}:{call.status}:{call.sequence}",
        )
        call.sequence += 1
        if event == "completed" and call.drop_final:
            self._state.record("webhook.dropped", key=delivery.key, url=delivery.url)
            return
        if call.hold_callbacks:
            self._held.setdefault(call.sid, []).append(delivery)
            return
        self._chain(call, delivery)

    def _chain(self, call: CallRecord, delivery: Delivery) -> None:
        """Send after the call's previous callback, so order holds unless a fault says otherwise."""
        previous = self._chains.get(call.sid)

        async def send() -> None:
            if previous is not None:
                await asyncio.wait([previous])
            self._state.counters[f"{delivery.kind}.distinct"] += 1
            await self._sender.send(delivery, call.rng)

        task = self._state.spawn(send())
        self._chains[call.sid] = task

        def forget(done: asyncio.Task[Any]) -> None:
            if self._chains.get(call.sid) is done:
                del self._chains[call.sid]

        task.add_done_callback(forget)

    def _flush_shuffled(self, call: CallRecord, held: list[Delivery]) -> None:
        order = list(held)
        call.rng.shuffle(order)
        if len(order) > 1 and order == held:
            order.reverse()
        self._state.record("webhook.reordered", key=call.sid, count=len(order))
        for delivery in order:
            self._chain(call, delivery)

    async def _amd(self, call: CallRecord) -> None:
        mix = self._state.config.outcomes
        await self._state.sleep_sim(mix.amd_s)
        assert call.amd_callback is not None and call.answered_by is not None
        token = self._state.config.twilio_accounts[call.account_sid].auth_token
        params = {
            "AccountSid": call.account_sid,
            "AnsweredBy": call.answered_by,
            "CallSid": call.sid,
            "MachineDetectionDuration": str(round(mix.amd_s * 1000)),
        }
        await self._sender.send(
            twilio_form("twilio.call.amd", call.amd_callback, params, token, key=call.sid),
            call.rng,
        )
