"""Dialer errors.

SwitchboardError
 ├── RetryableError
 │    ├── StoreUnavailable       PostgreSQL or Redis did not answer (down, restarting, full)
 │    └── ProviderUnavailable    the provider timed out or answered 5xx
 └── PermanentError
      ├── StoreRejected          PostgreSQL refused the data (bad value, constraint)
      ├── CampaignNotFound       404 (also for another tenant's campaign)
      ├── InvalidTransition      409: e.g. resume a cancelled campaign
      └── InvalidCampaign        422: e.g. no provider account to place calls with
 └── PlaceError                  what the provider did with a placement, which decides whether
      │                          the contact may be dialed again (handled by the placement,
      │                          never retried blindly: neither retryable nor permanent)
      ├── Throttled              429 / 20429: the request was not processed; slow down, resend
      ├── NotPlaced              a 4xx refusal: no call exists (``capacity`` for 10004/22005)
      └── PlaceUnknown           timeout, connection error, 5xx: a call may exist; ask the
                                 provider (recovery), never resend
"""

from switchboard.common.errors import PermanentError, RetryableError, SwitchboardError


class StoreUnavailable(RetryableError):
    """A datastore did not answer."""


class StoreRejected(PermanentError):
    """PostgreSQL refused the data itself: the same write fails every time."""


class ProviderUnavailable(RetryableError):
    """The provider timed out or failed on its side."""


class CampaignNotFound(PermanentError):
    """No such campaign for this tenant."""


class InvalidTransition(PermanentError):
    """The command does not apply to the campaign's current status."""


class InvalidCampaign(PermanentError):
    """The campaign cannot be created as asked."""


class PlaceError(SwitchboardError):
    """The provider's answer to a placement (``code``: its error code, if any)."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class Throttled(PlaceError):
    """The provider did not process the request (HTTP 429 / 20429)."""


class NotPlaced(PlaceError):
    """The provider refused: no call was created."""

    def __init__(self, message: str, code: str | None = None, *, capacity: bool = False) -> None:
        super().__init__(message, code)
        self.capacity = capacity


class PlaceUnknown(PlaceError):
    """We cannot tell whether the provider created the call."""
