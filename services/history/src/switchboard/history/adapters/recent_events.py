"""What the call writer remembers of the calls it wrote last, so that a batch of a call no
one else has written since reads none of its stored events back (the speculative fold of
:mod:`~switchboard.history.adapters.call_writer`): each call's stored events as of this
process's last commit of it, with the ``call_index`` row that commit left (whose version says
whether anyone else has written the call since)."""

from collections import OrderedDict
from datetime import datetime
from typing import NamedTuple, TypeAlias

from switchboard.history.models import CallFact

FirstSeen: TypeAlias = tuple[str, datetime]
"""(tenant, first seen at) of a call or message in a batch: the owner and partition day of its
row. A plain tuple (one per call of every batch, on the hot path)."""


RECENT_CALLS = 5_000
"""Calls whose stored events the store remembers: when no one else has written such a call
since, its next batch reads none of them back (else only their ids, not their payloads)."""


class Sighting(NamedTuple):
    """A call's ``call_index`` row as this transaction locked it."""

    tenant_id: str
    seen_at: datetime
    version: int
    """0 when this transaction saw the call first (no events stored, no ``calls`` row)."""


def next_sighting(left: Sighting) -> Sighting:
    """The row as the next transaction to write the call locks it."""
    return Sighting(left.tenant_id, left.seen_at, left.version + 1)


class RecentEvents:
    """The stored events of the last ``size`` calls written, as of this process's last commit
    of each, with the call's ``call_index`` row as that commit left it."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._calls: OrderedDict[str, tuple[Sighting, dict[str, CallFact]]] = OrderedDict()

    def get(self, call_id: str, seen_at: datetime, event_id: str) -> CallFact | None:
        """A stored event of the call (an event id names one event: it never changes)."""
        entry = self._calls.get(call_id)
        if entry is None or entry[0].seen_at != seen_at:  # another life of the call id
            return None
        return entry[1].get(event_id)

    def all_stored(self, call_id: str, locked: Sighting) -> list[CallFact] | None:
        """Every stored event of the call when the version this transaction took is the next
        one after this process's last commit of it (no one else has written it since);
        ``None`` when that is not known."""
        entry = self._calls.get(call_id)
        if entry is None or next_sighting(entry[0]) != locked:
            return None
        return list(entry[1].values())

    def expected(self, first: dict[str, FirstSeen]) -> dict[str, Sighting]:
        """The ``call_index`` row each call will most likely be found locked in: the next
        version of the one this process left; else a first sighting (this batch's)."""
        expected = {}
        for call_id, (tenant, at) in first.items():
            entry = self._calls.get(call_id)
            expected[call_id] = (
                Sighting(tenant, at, 0) if entry is None else next_sighting(entry[0])
            )
        return expected

    def remember(self, entries: "Memory") -> None:
        """Only once committed (see :func:`memory_after`)."""
        for call_id, entry in entries.items():
            self._calls[call_id] = entry
            self._calls.move_to_end(call_id)
        while len(self._calls) > self._size:
            self._calls.popitem(last=False)


Memory = dict[str, tuple[Sighting, dict[str, CallFact]]]


def memory_after(
    by_call: dict[str, list[CallFact]], written: list[CallFact], index: dict[str, Sighting]
) -> Memory:
    """What to remember of the batch's calls once it commits: the events ``by_call`` had
    stored, and those this transaction ``written``; with the rows it locked."""
    entries: Memory = {}
    for call_id, facts in by_call.items():
        entries[call_id] = (index[call_id], {f.event_id: f for f in facts})
    for f in written:
        entry = entries.get(f.call_id)
        if entry is None:
            entry = entries[f.call_id] = (index[f.call_id], {})
        entry[1][f.event_id] = f
    return entries
