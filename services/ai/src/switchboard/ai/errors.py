"""Errors of the AI service, each retryable or permanent (drives retry vs dead-letter).

SwitchboardError (common)
 ├── RetryableError
 │    ├── StoreUnavailable     MongoDB / Redis did not answer
 │    ├── ConfigNotReady       the control plane's configuration is not read yet (a message
 │    │                        waits rather than be taken for one on a channel nobody owns)
 │    └── SendFailed           the provider refused or failed before accepting the reply
 │                             (past the retries: its conversation waits and tries again,
 │                             the others go on; no dead letter)
 └── PermanentError
      ├── CryptoError          a token cannot be decrypted (switchboard.common.crypto)
      ├── SendRejected         the provider will never accept this reply (4xx) → dead letter
      │    └── SendNotAuthorized   invalid/expired token, missing permission, account locked:
      │                            dead letter + metric + alert (every message of the business)
      ├── SendSkipped          this message can never go to this recipient: recorded, counted,
      │    │                   acknowledged (no dead letter)
      │    └── ReengagementRequired  the 24-hour window is closed (Meta 131047) → template
      └── SendUnknown          no answer from the provider: the reply may have gone out
ModelUnavailable               the model failed after bounded retries (→ fallback, not retried)
ModelRejected                  the model refused this request as invalid (→ fallback; the breaker
                               does not count it: one business's settings, not an outage)
ChannelTaken                   another business of the tenant already uses a channel (API: 409)
ToolFailed                     a voice tool could not answer (its error goes to the assistant)
"""

from switchboard.common.errors import PermanentError, RetryableError, SwitchboardError


class StoreUnavailable(RetryableError):
    """MongoDB or Redis did not answer."""


class ConfigNotReady(RetryableError):
    """``control.config`` has not been read up to the start's end yet: who owns a channel is
    not known, so the message waits (it is not skipped as unowned)."""


class SendFailed(RetryableError):
    """The provider did not accept the reply; nothing was sent, a later attempt may succeed."""


class SendRejected(PermanentError):
    """The provider answered that this reply can never be sent (bad number, bad token)."""


class SendNotAuthorized(SendRejected):
    """The provider refused the business's credentials or permissions (Meta 190, 0, 3, 10,
    200-299, 131005, 131031, 368): nothing this business sends will go out until fixed."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class SendSkipped(PermanentError):
    """The provider will never deliver this message to this recipient (not on WhatsApp, an
    invalid parameter, the window closed); retrying or dead-lettering would not help."""

    def __init__(self, message: str, reason: str, code: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.code = code


class ReengagementRequired(SendSkipped):
    """Meta 131047: more than 24 hours since the customer's last message; only an approved
    template may be sent."""

    def __init__(self, message: str, code: str | None = "131047") -> None:
        super().__init__(message, "window_closed", code)


class MediaUnavailable(SwitchboardError):
    """A media file could not be fetched (expired id, too large, provider error); the message
    is described instead."""


class SendUnknown(PermanentError):
    """The provider did not answer in time; the reply may have been delivered (never resent)."""


class ModelUnavailable(SwitchboardError):
    """The chat model failed (timeout, 5xx, breaker open); the caller sends the fallback."""


class ModelRejected(SwitchboardError):
    """The model server refused the request itself (400/404/422: a parameter the model does not
    take, an unknown model); the caller sends the fallback."""


class ChannelTaken(SwitchboardError):
    """A channel is already routed to another business of the same tenant."""

    def __init__(self, channel_id: str) -> None:
        super().__init__(f"channel {channel_id!r} belongs to another of your businesses")
        self.channel_id = channel_id


class ToolFailed(SwitchboardError):
    """A voice tool could not answer: its endpoint refused, timed out, answered an error, or
    is not a place it may call. The message is what the assistant is told."""
