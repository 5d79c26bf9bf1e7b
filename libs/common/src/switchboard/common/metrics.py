"""Prometheus helpers shared by the services."""

import functools
from collections.abc import Iterable, Sequence
from typing import TypeVar

from prometheus_client import Counter
from prometheus_client.metrics import MetricWrapperBase

M = TypeVar("M", bound=MetricWrapperBase)


@functools.cache
def labelled(metric: M, *values: str) -> M:
    """``metric.labels(*values)``, looked up once per label set: on a hot path ``labels()``
    costs more than the increment or observation. Use it where label values are few (route
    templates, statuses, outcomes), never with ids."""
    return metric.labels(*values)


def start_at_zero(counter: Counter, label_sets: Iterable[Sequence[str]]) -> None:
    """Create ``counter``'s child for each label set whose values are known in advance (value 0).

    A labelled counter has no series until its first ``inc()``, and then its first sample is
    already 1. Prometheus's ``rate()`` and ``increase()`` need two samples of a series, so that
    first event is invisible to them: an ``increase(...) > 0`` alert does not fire for it, and a
    ``rate()`` dashboard panel shows no data instead of 0 until something has gone wrong.
    """
    for labels in label_sets:
        counter.labels(*labels)
