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
"""

from switchboard.common.errors import PermanentError, RetryableError


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
