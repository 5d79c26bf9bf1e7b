"""The spool drainer: publishes spooled records in order, deletes only what was acked, and never
lets one record hold back the rest.

A pass takes the oldest waiting records. Each is first checked against the record limit: one
over it (spooled by an older version) is trimmed like a new webhook's event
(``record_limit``), or, when it cannot be, moved to the spool's dead-letter table at once.
The rest are published with one outcome per record:

- nothing acked and nothing refused: Kafka itself is failing. Nothing is counted against the
  records; the pass raises PublishError and the drainer retries the same records after one
  pause (an outage pauses, it does not discard);
- otherwise each failure is about that record (the broker took others in the same pass, or
  refused this one for what it is). The record becomes a *suspect*: later passes publish the
  records behind it first and retry it apart from them, so it holds nothing back for longer
  than one pass. A refusal is retried once alone (a record refused only because it shared a
  broker batch with a bad one goes through then); refused alone, it is dead-lettered. Other
  failures are retried with backoff (``drain_retry_s`` doubling up to a minute) and
  dead-lettered after ``max_attempts``.

Suspects are remembered in memory only: a restarted ingress tries them again from scratch.
Every record at or below the highest sequence number a pass has settled is a suspect (the rest
were acked or set aside), so new records are read from above it.
"""

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import structlog

from switchboard.common.errors import PublishError, RecordRefused
from switchboard.common.events import KafkaRecord
from switchboard.common.kafka import SendOutcome
from switchboard.common.metrics import labelled
from switchboard.ingress.metrics import (
    DEAD_LETTERED,
    DELIVERIES,
    SPOOL_AGE,
    SPOOL_DEAD_LETTERS,
    SPOOL_DEPTH,
)
from switchboard.ingress.publish import RecordPublisher
from switchboard.ingress.record_limit import RecordLimit
from switchboard.ingress.spool import DeadLetter, Spool, Spooled

log = structlog.get_logger(__name__)
MAX_BACKOFF_S: Final = 60.0
MIN_PUBLISH_TIMEOUT_S: Final = 5.0


@dataclass(slots=True)
class _Suspect:
    attempts: int
    error: str
    refused: bool
    due: float
    """``time.monotonic()`` from which it is retried."""


@dataclass(frozen=True, slots=True)
class _Attempt:
    spooled: Spooled
    record: KafkaRecord
    """What is sent: the spooled record, or its trimmed copy."""


class SpoolDrainer:
    """Moves spooled records to Kafka (see the module docstring for the rules)."""

    def __init__(
        self,
        publisher: RecordPublisher,
        spool: Spool,
        limit: RecordLimit,
        *,
        batch: int,
        retry_s: float,
        publish_timeout_s: float,
        max_attempts: int,
        on_published: Callable[[], None],
    ) -> None:
        self._publisher = publisher
        self._spool = spool
        self._limit = limit
        self._batch = batch
        self._retry_s = retry_s
        self._timeout_s = max(publish_timeout_s, MIN_PUBLISH_TIMEOUT_S)
        self._max_attempts = max_attempts
        self._on_published = on_published
        self._wake = asyncio.Event()
        self._suspects: dict[int, _Suspect] = {}
        self._settled_through = 0
        """Every waiting record with a sequence number up to this one is a suspect."""

    def wake(self) -> None:
        """New records were spooled."""
        self._wake.set()

    @property
    def suspects(self) -> int:
        return len(self._suspects)

    def observe(self) -> None:
        SPOOL_DEPTH.set(self._spool.depth)
        SPOOL_AGE.set(self._spool.oldest_age_s())
        SPOOL_DEAD_LETTERS.set(self._spool.dead_letters)

    async def run(self) -> None:
        """Drain for the life of the app, under ``common.supervise`` (an unexpected exception
        restarts it with backoff and shows in ``/ready``)."""
        self.observe()
        if self._spool.depth:
            log.info("spool has events to drain", depth=self._spool.depth)
        while True:
            try:
                while await self.drain_once():
                    pass
            except PublishError as exc:
                log.info("spool drain waiting for kafka", depth=self._spool.depth, error=str(exc))
                self.observe()
                await asyncio.sleep(self._retry_s)
                continue
            if self._due(time.monotonic()):
                continue  # a refused record to retry alone, now
            self._wake.clear()
            # Wake up on new spooled events, for suspects' retries, and now and then to
            # refresh the age gauge.
            pause = self._retry_s if self._suspects else self._retry_s * 5
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=pause)

    def _due(self, now: float) -> bool:
        return any(s.due <= now for s in self._suspects.values())

    async def drain_once(self) -> int:
        """One pass; returns how many records left the spool (acked or set aside)."""
        now = time.monotonic()
        fresh, retry = await self._next(now)
        if not fresh and not retry:
            if not self._suspects:
                self._on_published()  # nothing to prove it with (the spool refused the events)
            return 0
        if not self._publisher.connected:
            raise PublishError("producer not connected")
        dead: list[DeadLetter] = []
        fresh_ok = self._within_limit(fresh, dead)
        retry_ok = self._within_limit(retry, dead)
        # The records behind the suspects go first, together; then each suspect that a broker
        # refused, alone; then the other suspects.
        refused = [a for a in retry_ok if self._suspect(a.spooled.seq).refused]
        others = [a for a in retry_ok if not self._suspect(a.spooled.seq).refused]
        groups = [fresh_ok, *([a] for a in refused), others]
        results = await self._publish(groups)
        acked = [s.seq for s, outcome, _ in results if outcome is None]
        failed = [(s, o, alone) for s, o, alone in results if o is not None]
        if acked:
            await self._spool.delete(acked)
            for seq in acked:
                self._suspects.pop(seq, None)
            labelled(DELIVERIES, "drained").inc(len(acked))
            self._on_published()
        if failed and not acked and not any(isinstance(o, RecordRefused) for _, o, _ in failed):
            await self._bury(dead)
            self.observe()
            raise PublishError(str(failed[0][1]))  # Kafka itself: count nothing, pause
        for spooled, outcome, alone in failed:
            letter = self._failed(spooled.seq, outcome, alone, counts=bool(acked), now=now)
            if letter is not None:
                dead.append(letter)
        if fresh:
            self._settled_through = max(self._settled_through, fresh[-1].seq)
        await self._bury(dead)
        self.observe()
        return len(acked) + len(dead)

    async def _next(self, now: float) -> tuple[list[Spooled], list[Spooled]]:
        """The oldest records not tried yet, and the suspects due for another try."""
        fresh = await self._spool.peek(self._batch, after=self._settled_through)
        if not self._suspects:
            return fresh, []
        suspects = await self._spool.peek(self._batch, through=self._settled_through)
        if len(suspects) < self._batch:  # all of them: forget any that left the spool
            present = {s.seq for s in suspects}
            self._suspects = {q: s for q, s in self._suspects.items() if q in present}
        return fresh, [s for s in suspects if self._suspect(s.seq).due <= now]

    async def _publish(
        self, groups: list[list[_Attempt]]
    ) -> list[tuple[Spooled, SendOutcome, bool]]:
        """Each record's outcome, and whether it was sent alone; one send per group."""
        results: list[tuple[Spooled, SendOutcome, bool]] = []
        for group in groups:
            if not group:
                continue
            outcomes = await self._publisher.publish_each(
                [(a.spooled.topic, a.record) for a in group], timeout_s=self._timeout_s
            )
            alone = len(group) == 1
            results += [(a.spooled, o, alone) for a, o in zip(group, outcomes, strict=True)]
        return results

    def _suspect(self, seq: int) -> _Suspect:
        return self._suspects.get(seq) or _Suspect(0, "", refused=False, due=0.0)

    def _within_limit(self, batch: list[Spooled], dead: list[DeadLetter]) -> list[_Attempt]:
        """The records to send; those over the limit are trimmed, or added to ``dead``."""
        attempts = []
        for spooled in batch:
            record = spooled.record
            if not self._limit.fits(record):
                refit = self._limit.refit(record)
                if refit is None:
                    size = self._limit.size(record)
                    error = (
                        f"record of {size} bytes is over the limit of {self._limit.max_bytes}"
                        " (SWITCHBOARD_KAFKA__MAX_RECORD_BYTES) and cannot be trimmed"
                    )
                    suspect = self._suspects.pop(spooled.seq, None)
                    tries = suspect.attempts if suspect else 0
                    dead.append(DeadLetter(spooled.seq, "too_large", error, tries))
                    continue
                record = refit
            attempts.append(_Attempt(spooled, record))
        return attempts

    def _failed(
        self, seq: int, outcome: SendOutcome, alone: bool, *, counts: bool, now: float
    ) -> DeadLetter | None:
        """Record a per-record failure; the dead letter when the record is done for."""
        refused = isinstance(outcome, RecordRefused)
        before = self._suspect(seq)
        attempts = before.attempts + (1 if counts or refused else 0)
        error = str(outcome)
        if refused and alone:
            self._suspects.pop(seq, None)
            return DeadLetter(seq, "refused", error, attempts)
        if attempts >= self._max_attempts:
            self._suspects.pop(seq, None)
            return DeadLetter(seq, "attempts", error, attempts)
        backoff = min(MAX_BACKOFF_S, self._retry_s * 2 ** max(attempts - 1, 0))
        self._suspects[seq] = _Suspect(attempts, error, refused, now if refused else now + backoff)
        return None

    async def _bury(self, dead: list[DeadLetter]) -> None:
        if not dead:
            return
        await self._spool.dead_letter(dead)
        for letter in dead:
            labelled(DEAD_LETTERED, letter.reason).inc()
            log.error(
                "spooled record set aside as a dead letter",
                seq=letter.seq,
                reason=letter.reason,
                error=letter.error,
                attempts=letter.attempts,
                spool=str(self._spool.path),
            )
