import structlog
from structlog.testing import capture_logs

from switchboard.common.log_summary import PeriodicSummary


def test_batches_are_summed_into_one_line_per_interval() -> None:
    now = [0.0]
    summary = PeriodicSummary(structlog.get_logger("t"), "stored", 60.0, clock=lambda: now[0])
    with capture_logs() as logs:
        for t in (1.0, 20.0, 59.0):
            now[0] = t
            summary.add(received=10, new=7)
        assert logs == []
        now[0] = 61.0
        summary.add(received=5, new=5)
        now[0] = 100.0
        summary.add(received=1, new=0)
    assert len(logs) == 1
    line = logs[0]
    assert (line["event"], line["log_level"]) == ("stored", "info")
    assert (line["batches"], line["received"], line["new"], line["seconds"]) == (4, 35, 26, 61.0)
