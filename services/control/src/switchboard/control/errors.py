"""Errors of the control plane; each carries its HTTP answer.

SwitchboardError (switchboard.common.errors)
 ├── RetryableError
 │    └── StoreUnavailable       PostgreSQL did not answer (503)
 └── PermanentError
      ├── BadCredentials         unknown, revoked or wrong API key (401)
      ├── Forbidden              the caller may not do this (403)
      ├── ChannelUnavailable     a tenant may not bind that channel (403, one answer)
      ├── NotFound               nothing of that id visible to the caller (404)
      ├── Conflict               the change contradicts what is stored (409)
      └── InvalidRequest         understood, but not acceptable (422; ``errors`` name the fields)
"""

from collections.abc import Sequence

from switchboard.common.errors import PermanentError, RetryableError


class StoreUnavailable(RetryableError):
    """PostgreSQL could not be reached or gave up; a later attempt may succeed."""


class BadCredentials(PermanentError):
    """The API key is unknown, revoked or wrong (one message for all, on purpose)."""

    def __init__(self) -> None:
        super().__init__("invalid API key")


class Forbidden(PermanentError):
    """The caller may not do this."""


class ChannelUnavailable(PermanentError):
    """A tenant may not bind the channel: not on an account it holds, or bound elsewhere.

    One message for every reason, so that the answer never tells a tenant whether another
    tenant holds a number, phone_number_id, assistant or agent."""

    def __init__(self) -> None:
        super().__init__(
            "this channel cannot be bound by this tenant: it must belong to an account the "
            "tenant holds and not be bound already"
        )


class NotFound(PermanentError):
    """Nothing with that id is visible to the caller."""


class Conflict(PermanentError):
    """The change contradicts the stored state (e.g. deleting an account with channels)."""


class InvalidRequest(PermanentError):
    """The request is understood but not acceptable; ``errors`` name the fields."""

    def __init__(self, message: str, errors: Sequence[dict[str, str]] = ()) -> None:
        super().__init__(message)
        self.errors = list(errors)
