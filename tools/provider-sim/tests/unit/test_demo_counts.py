"""The demo's per-event counts: the simulator's delivery records against history's rows."""

from collections import Counter

from switchboard.providersim.demo_counts import _Record, tally


def test_each_event_is_counted_once_with_its_duplicates_and_its_rows() -> None:
    records = [
        _Record("CA1:ringing:0", acked=True, attempts=3, accepted=3),  # two duplicates accepted
        _Record("CA1:completed:1", acked=True, attempts=2, accepted=1),  # a 503, then a 2xx
        _Record("CA2:ringing:0", acked=True, attempts=1, accepted=1),  # acknowledged, not stored
        _Record("CA3:ringing:0", acked=False, attempts=4, accepted=0),  # never acknowledged
        _Record("CA4:ringing:0", acked=True, attempts=2, accepted=2),  # stored twice
    ]
    rows = Counter({"CA1:ringing:0": 1, "CA1:completed:1": 1, "CA4:ringing:0": 2})
    d = tally("twilio", records, rows)
    assert (d.sent, d.acknowledged, d.stored, d.missing) == (5, 4, 3, 1)
    assert (d.duplicates_sent, d.duplicates_accepted) == (2 + 1 + 3 + 1, 2 + 1)
    assert (d.duplicates_stored, d.duplicates_dropped) == (1, 2)
