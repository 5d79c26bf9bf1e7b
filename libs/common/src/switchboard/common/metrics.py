"""Prometheus helpers shared by the services."""

import functools
from typing import TypeVar

from prometheus_client.metrics import MetricWrapperBase

M = TypeVar("M", bound=MetricWrapperBase)


@functools.cache
def labelled(metric: M, *values: str) -> M:
    """``metric.labels(*values)``, looked up once per label set: on a hot path ``labels()``
    costs more than the increment or observation. Use it where label values are few (route
    templates, statuses, outcomes), never with ids."""
    return metric.labels(*values)
