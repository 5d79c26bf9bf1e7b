"""bench-system's rows: the sustained rate against the rate asked, the latency target, and the
CPU split in cores per process with the total against the box."""

import os
from pathlib import Path

from switchboard.chaos.options import ChaosOptions
from switchboard.chaos.system import results
from switchboard.chaos.verify import Latency, Report


def test_rows_from_a_run(tmp_path: Path) -> None:
    r = Report(events=30_000, traffic_s=100.0, acknowledged_not_stored=2, refused=5)
    r.latency_outside = Latency.of([0.1] * 90 + [0.6] * 10)
    options = ChaosOptions(root=tmp_path, schedule="calm", rate=500.0, duration_s=100)
    rows = {x.metric: x for x in results(r, options, "cmd", {"kafka": 80.0, "ingress": 40.0})}
    sustained = rows["webhooks/s sustained (distinct provider events, every service running)"]
    assert (sustained.value, sustained.baseline, sustained.ratio) == (300.0, 500.0, 0.6)
    assert rows["acknowledged but not stored"].value == 2
    assert rows["answers not 2xx"].value == 5
    assert rows["webhook → stored row p95"].target == "< 500 ms"
    assert rows["webhook → stored row p95"].value == 600.0
    assert rows["CPU: kafka"].value == 0.8
    assert rows["CPU: ingress"].value == 0.4
    total = rows["CPU: every process of the stack"]
    assert total.value == 1.2
    assert total.baseline == float(os.cpu_count() or 1)
    cpu_rows = [m for m in rows if m.startswith("CPU: ") and "every" not in m]
    assert cpu_rows == ["CPU: kafka", "CPU: ingress"]  # busiest first
