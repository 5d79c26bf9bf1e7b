"""Errors of the history service; each is retryable or permanent (retry vs dead-letter).

SwitchboardError (switchboard.common.errors)
 ├── RetryableError
 │    ├── StoreUnavailableError   PostgreSQL unreachable, deadlock, serialization failure
 │    │    └── LockTimeoutError    a statement gave up waiting for a lock (lock_timeout)
 │    └── ProviderUnavailableError  the provider's REST API failed or timed out
 └── PermanentError
      ├── StoreRejectedError      PostgreSQL refused the data (e.g. a NUL character)
      └── BadQueryError           an API filter or cursor that cannot be understood (400)
"""

from switchboard.common.errors import PermanentError, RetryableError


class StoreUnavailableError(RetryableError):
    """The database could not take the write now; a later attempt may succeed."""


class LockTimeoutError(StoreUnavailableError):
    """A statement gave up waiting for a table lock (``lock_timeout``); tried again later."""


class StoreRejectedError(PermanentError):
    """The database refused the data itself; retrying the same data cannot help."""


class ProviderUnavailableError(RetryableError):
    """A provider's REST API did not answer usefully."""


class BadQueryError(PermanentError):
    """A query filter or cursor is invalid."""
