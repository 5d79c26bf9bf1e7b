"""The garbage collector set for long-running service processes.

After start-up a service holds a large, long-lived heap (framework, models, schemas, clients)
that CPython's cyclic collector walks again on every full collection, and requests waiting
on I/O (a Kafka ack, a database) survive young collections and push it into full ones: under
load that was about a third of the ingress's CPU. Freezing the start-up heap takes it out of
the collector's sight, and a larger young-generation threshold runs the collector less often
(objects of finished requests are freed by reference counting anyway; only cycles wait).
"""

import gc

from litestar import Litestar

YOUNG_THRESHOLD = 10_000  # default 700
OLDER_THRESHOLDS = (10, 10)


def settle_heap() -> None:
    """Collect once, freeze what is left (the start-up heap) and raise the thresholds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)


def settled_after_startup(app: Litestar) -> Litestar:
    """``app`` with ``settle_heap`` run once its start-up hooks and lifespans are done
    (production factories only: tests create many apps in one process)."""
    app.on_startup.append(settle_heap)
    return app
