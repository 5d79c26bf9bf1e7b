"""One error tree for every service.

    SwitchboardError
     ├── RetryableError   a later attempt may succeed (broker down, timeout, 5xx upstream)
     │    └── PublishError       the broker did not acknowledge in time
     └── PermanentError   retrying cannot help (bad payload, unknown type); dead-letter it
          ├── InvalidEventError  not a Switchboard CloudEvent
          └── RecordRefused      the producer or broker refuses this record for what it is

Adapters translate driver errors into these with ``raise ... from exc`` so callers
catch our errors only.
"""


class SwitchboardError(Exception):
    """Root of every error Switchboard raises on purpose."""


class RetryableError(SwitchboardError):
    """A later attempt may succeed."""


class PermanentError(SwitchboardError):
    """Retrying cannot help."""


class InvalidEventError(PermanentError):
    """A Kafka message is not a valid Switchboard CloudEvent."""


class PublishError(RetryableError):
    """The broker did not acknowledge a message in time."""


class RecordRefused(PermanentError):
    """The producer or the broker refuses this record for what it is (over the size limit,
    corrupt, an invalid topic): sending it again cannot succeed."""
