"""The verdict, computed from the evidence (``collect.py``) alone: what the simulator sent and
was told, against what the stores hold.

- *Acknowledged but not stored*: a webhook answered 2xx whose event is not in history (a call
  status event by CallSid + SequenceNumber; a WhatsApp message by wamid; a message status by
  the message's row reaching at least that status).
- *Duplicate rows*: rows in excess per call, event, callback, message, dialer attempt.
- *Numbers dialled twice*: the dialer's account called a number more than once (the campaign
  makes one attempt per contact).
- *Customers answered twice* (and acknowledged messages never answered): every inbound message
  comes from a customer of its own, so the business replies once to each.
- *Calls without a final state*: calls the simulator ended whose history row is not terminal
  after the reconciler's grace (or is in another final state than the simulator's).
- *Webhook → stored row latency*: first attempt (simulator clock) → the row's insertion time
  (history's ``call_events.received_at`` / ``messages.stored_at``, PostgreSQL's ``now()`` of the
  writing transaction; same machine, same clock), inside and outside fault windows.
- *Time to recover*, per fault: from when it was lifted until the last event first sent while it
  lasted was stored (and for the AI, answered; for the dialer, the next call placed).
"""

import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from switchboard.chaos.collect import Delivery, Evidence
from switchboard.chaos.faults import FaultRun
from switchboard.chaos.poison import PoisonResult
from switchboard.chaos.wiring import DIALER_ACCOUNT

MESSAGE_ORDER: Final = ("queued", "sending", "sent", "delivered", "read")
TERMINAL_RANK: Final = 4
SAMPLES: Final = 10
DETAILS: Final = 2000
"""Most entries of each list in the details file (``details()``)."""


@dataclass(frozen=True, slots=True)
class Latency:
    count: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None

    @classmethod
    def of(cls, seconds: list[float]) -> "Latency":
        if not seconds:
            return cls(0, None, None, None)
        ms = sorted(s * 1000 for s in seconds)
        if len(ms) == 1:
            return cls(1, ms[0], ms[0], ms[0])
        q = statistics.quantiles(ms, n=100, method="inclusive")
        return cls(len(ms), round(q[49], 1), round(q[94], 1), round(q[98], 1))


@dataclass(frozen=True, slots=True)
class Recovery:
    """How one fault went, from the evidence."""

    name: str
    at_s: float
    duration_s: float
    ready_s: float | None
    """Lifted → the part ready again (the harness's probe)."""
    caught_up_s: float | None
    """Lifted → the last event first sent during the fault stored (0: no backlog; None:
    nothing was sent meanwhile)."""
    not_stored: int
    """Events first sent during the fault, acknowledged, never stored."""
    refused: int
    """Non-2xx answers to webhooks first sent during the fault (and its tail): a broker
    failover, a restarted datastore must cause none."""
    replies_caught_up_s: float | None
    """Lifted → the last message sent during the fault answered by the AI."""
    next_dial_s: float | None
    """Lifted → the dialer's next call at the simulator."""
    error: str = ""


@dataclass(slots=True)
class Report:
    events: int = 0
    """Distinct provider events the simulator sent (a WhatsApp batch counts its messages)."""
    acknowledged: int = 0
    unacknowledged: int = 0
    """Events the simulator gave up on (never answered 2xx): the provider's loss, not ours."""
    refused: int = 0
    """Answers that were not 2xx (503 and the like), over every attempt."""
    unanswered: int = 0
    """Attempts without an answer (refused connection, timeout)."""
    unchecked: int = 0
    """Events of kinds with no store to look in."""
    acknowledged_not_stored: int = 0
    not_stored_samples: list[str] = field(default_factory=list)
    """Each with the fault it was first sent in (``during <fault>``), if any."""
    duplicate_rows: dict[str, int] = field(default_factory=dict)
    dials: int = 0
    numbers_dialled_twice: int = 0
    double_dial_samples: list[str] = field(default_factory=list)
    attempts: int = 0
    contacts_done: int = 0
    messages_in: int = 0
    customers_answered_twice: int = 0
    answered_twice_samples: list[str] = field(default_factory=list)
    acknowledged_never_answered: int = 0
    never_answered_samples: list[str] = field(default_factory=list)
    calls: int = 0
    calls_still_live: int = 0
    calls_open: int = 0
    calls_wrong_final: int = 0
    calls_missing: int = 0
    """Calls the simulator made with an acknowledged callback and no history row."""
    open_samples: list[str] = field(default_factory=list)
    finals_dropped: int = 0
    calls_reconciled: int = 0
    latency_outside: Latency = field(default_factory=lambda: Latency.of([]))
    latency_inside: Latency = field(default_factory=lambda: Latency.of([]))
    faults: list[Recovery] = field(default_factory=list)
    poison: list[PoisonResult] = field(default_factory=list)
    lost_on_kafka: int | None = None
    """Of ``lost``: how many are on Kafka (a consumer's loss; the rest, the ingress's)."""
    settled: str = ""
    """How the wait for the stores ended (settled, consumers stalled, timed out)."""
    traffic_s: float = 0.0
    """From the first webhook to the last one first sent."""
    lost: list[dict[str, object]] = field(default_factory=list)
    """Every event acknowledged but not stored (up to DETAILS): what, when, during which fault."""
    unanswered_messages: list[dict[str, object]] = field(default_factory=list)

    def failures(self) -> list[str]:
        """Every zero the run must end with, that it did not."""
        checks = {
            "acknowledged but not stored": self.acknowledged_not_stored,
            "duplicate rows": sum(self.duplicate_rows.values()),
            "numbers dialled twice": self.numbers_dialled_twice,
            "customers answered twice": self.customers_answered_twice,
            "acknowledged messages never answered": self.acknowledged_never_answered,
            "calls without a final state": self.calls_open + self.calls_missing,
            "calls in another final state than the provider's": self.calls_wrong_final,
            "poison markers late or lost": sum(1 for p in self.poison if not p.ok),
            "faults that failed": sum(1 for f in self.faults if f.error),
            "non-2xx answers while a broker was down": sum(
                f.refused for f in self.faults if f.name.startswith("kill-broker")
            ),
        }
        return [f"{name}: {n}" for name, n in checks.items() if n]


def _rank(status: str | None) -> int:
    return MESSAGE_ORDER.index(status) if status in MESSAGE_ORDER else len(MESSAGE_ORDER)


def stored(d: Delivery, e: Evidence) -> list[tuple[str, bool, float | None]] | None:
    """The events one delivery carried: (id, stored, stored at — when it measures latency);
    None for kinds the stores cannot be asked about."""
    if d.kind == "twilio.call.status":
        sid, _, seq = d.key.rsplit(":", 2)
        at = e.call_events.get((sid, int(seq)))
        return [(d.key, at is not None, at)]
    if d.kind == "whatsapp.messages":
        out = []
        for wamid in d.key.split(","):
            row = e.messages.get(wamid)
            out.append((wamid, row is not None, row[1] if row else None))
        return out
    if d.kind == "whatsapp.statuses":
        wamid, status = d.key.rsplit(":", 1)
        row = e.messages.get(wamid)
        return [(d.key, row is not None and _rank(row[0]) >= _rank(status), None)]
    return None


@dataclass(frozen=True, slots=True)
class Windows:
    """The fault windows: from a fault's start to ``tail_s`` after it was lifted."""

    faults: list[FaultRun]
    tail_s: float

    def during(self, t: float) -> str:
        """The fault ``t`` falls in ("" outside every fault)."""
        for f in self.faults:
            if f.started <= t <= f.lifted + self.tail_s:
                return f.fault.name
        return ""


def verify(
    e: Evidence, faults: list[FaultRun], *, window_tail_s: float, grace_ok: bool = True
) -> Report:
    """The report of one run (``grace_ok``: the reconciler's grace has passed)."""
    r = Report(duplicate_rows=dict(e.duplicates), attempts=e.attempts)
    r.contacts_done = e.contacts_done
    windows = Windows(faults, window_tail_s)
    sent_events = _events(e, r, windows)
    if e.deliveries:
        sent = [d.first_sent for d in e.deliveries]
        r.traffic_s = max(sent) - min(sent)
    _dials(e, r)
    first_sent = _answers(e, r, windows.during)
    _calls(e, r, grace_ok)
    r.faults = [_recovery(f, e, sent_events, first_sent, window_tail_s) for f in faults]
    r.poison = [p for f in faults for p in f.poison]
    return r


def _events(e: Evidence, r: Report, windows: Windows) -> list[tuple[float, bool, float | None]]:
    """Counts every event against the stores; returns (first sent, acknowledged, stored at)
    of every event whose latency is measured."""
    inside: list[float] = []
    outside: list[float] = []
    sent_events: list[tuple[float, bool, float | None]] = []
    for d in e.deliveries:
        r.refused += d.refused
        r.unanswered += d.unanswered
        events = stored(d, e)
        if events is None:
            r.unchecked += 1
            continue
        for key, ok, at in events:
            r.events += 1
            if d.acked is None:
                r.unacknowledged += 1
            else:
                r.acknowledged += 1
                if not ok:
                    _lost(r, d, key, windows.during(d.first_sent))
            if d.kind == "whatsapp.statuses":
                continue
            sent_events.append((d.first_sent, d.acked is not None, at))
            if at is not None:
                (inside if windows.during(d.first_sent) else outside).append(
                    max(0.0, at - d.first_sent)
                )
    r.latency_inside, r.latency_outside = Latency.of(inside), Latency.of(outside)
    return sent_events


def _lost(r: Report, d: Delivery, key: str, where: str) -> None:
    r.acknowledged_not_stored += 1
    if len(r.not_stored_samples) < SAMPLES:
        r.not_stored_samples.append(f"{d.kind} {key}" + (f" (during {where})" if where else ""))
    if len(r.lost) < DETAILS:
        r.lost.append(
            {
                "kind": d.kind,
                "key": key,
                "first_sent": d.first_sent,
                "acked": d.acked,
                "attempts": d.attempts,
                "during": where,
            }
        )


def _dials(e: Evidence, r: Report) -> None:
    dialled = Counter(c.to for c in e.calls if c.account_sid == DIALER_ACCOUNT)
    r.dials = sum(dialled.values())
    twice = sorted(n for n, k in dialled.items() if k > 1)
    r.numbers_dialled_twice = len(twice)
    r.double_dial_samples = [f"{n} x{dialled[n]}" for n in twice[:SAMPLES]]


def _answers(
    e: Evidence, r: Report, during: Callable[[float], str]
) -> dict[str, tuple[float, bool]]:
    """Replies per customer; returns wamid → (first sent, acknowledged)."""
    sent: dict[str, tuple[float, bool]] = {}
    for d in e.deliveries:
        if d.kind == "whatsapp.messages":
            for wamid in d.key.split(","):
                sent[wamid] = (d.first_sent, d.acked is not None)
    r.messages_in = len(e.inbound)
    twice = sorted(c for c, times in e.replies.items() if len(times) > 1)
    r.customers_answered_twice = len(twice)
    r.answered_twice_samples = [f"{c} x{len(e.replies[c])}" for c in twice[:SAMPLES]]
    for wamid, customer in e.inbound.items():
        if sent.get(wamid, (0.0, False))[1] and customer not in e.replies:
            r.acknowledged_never_answered += 1
            t = sent[wamid][0]
            if len(r.never_answered_samples) < SAMPLES:
                r.never_answered_samples.append(
                    wamid + (f" (during {during(t)})" if during(t) else "")
                )
            if len(r.unanswered_messages) < DETAILS:
                r.unanswered_messages.append(
                    {"wamid": wamid, "customer": customer, "first_sent": t, "during": during(t)}
                )
    return sent


def _calls(e: Evidence, r: Report, grace_ok: bool) -> None:
    acked_sids = {
        d.key.split(":", 1)[0]
        for d in e.deliveries
        if d.kind == "twilio.call.status" and d.acked is not None
    }
    for call in e.calls:
        r.calls += 1
        r.finals_dropped += call.drop_final
        if call.ended_at is None:
            r.calls_still_live += 1
            continue
        row = e.call_rows.get(call.sid)
        if row is None:
            r.calls_missing += call.sid in acked_sids
            continue
        status, rank = row
        if rank < TERMINAL_RANK:
            r.calls_open += grace_ok
            if len(r.open_samples) < SAMPLES:
                r.open_samples.append(f"{call.sid} {status} (simulator: {call.status})")
        elif status != call.status:
            r.calls_wrong_final += 1
    r.calls_reconciled = len(e.reconciled & {c.sid for c in e.calls})


def _recovery(
    run: FaultRun,
    e: Evidence,
    sent_events: list[tuple[float, bool, float | None]],
    first_sent: dict[str, tuple[float, bool]],
    tail_s: float,
) -> Recovery:
    f = run.fault
    refused = sum(
        d.refused for d in e.deliveries if run.started <= d.first_sent <= run.lifted + tail_s
    )
    during = [(acked, at) for t, acked, at in sent_events if run.started <= t <= run.lifted]
    stored_at = [at for _, at in during if at is not None]
    caught_up = max(0.0, max(stored_at) - run.lifted) if stored_at else None
    not_stored = sum(1 for acked, at in during if acked and at is None)
    customers = [
        e.inbound[w]
        for w, (t, _) in first_sent.items()
        if run.started <= t <= run.lifted and w in e.inbound
    ]
    answered = [min(e.replies[c]) for c in customers if c in e.replies]
    replies = max(0.0, max(answered) - run.lifted) if answered else None
    dials = [
        c.created_at
        for c in e.calls
        if c.account_sid == DIALER_ACCOUNT and c.created_at >= run.lifted
    ]
    next_dial = min(dials) - run.lifted if dials else None
    return Recovery(
        name=f.name,
        at_s=run.offset_s,
        duration_s=f.duration_s,
        ready_s=None if run.ready_s is None else round(run.ready_s, 2),
        caught_up_s=None if caught_up is None else round(caught_up, 2),
        not_stored=not_stored,
        refused=refused,
        replies_caught_up_s=None if replies is None else round(replies, 2),
        next_dial_s=None if next_dial is None else round(next_dial, 2),
        error=run.error,
    )
