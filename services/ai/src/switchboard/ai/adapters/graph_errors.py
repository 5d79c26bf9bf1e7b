"""Meta Graph API (WhatsApp Cloud API) error answers → retry, skip or alert.

Meta's advice is to act on ``error.code`` (and ``error_data.details``), not on the HTTP status
or the title. An answer looks like::

    {"error": {"message": "(#130429) Rate limit hit", "type": "OAuthException", "code": 130429,
               "error_data": {"messaging_product": "whatsapp", "details": "..."},
               "fbtrace_id": "..."}}

- **retry** (SendFailed; the message is retried with backoff; past the retries its batch is
  read again after a growing pause, as in a datastore outage, never dead-lettered): throughput
  and rate limits (130429 per number, 131056 per business-user pair, 80007 per WABA, 4 per
  app), temporary errors (1, 2, 131000, 131016, 133004), any 5xx or 429;
- **skip** (SendSkipped; recorded, counted, acknowledged): re-engagement required (131047, the
  24-hour window closed → the template path), a recipient that cannot get it (131026
  undeliverable, 131021 sender = recipient, 131030 not in the test allow-list, 131050 stopped
  marketing), invalid parameters (100, 131008, 131009, 131051, 131052, 131053, 132000-132069
  template problems);
- **alert** (SendNotAuthorized; dead-lettered for a replay once fixed, counted by code for the
  ``WhatsAppSendNotAuthorized`` alert): invalid or expired token (190, 0), missing permission
  (3, 10, 200-299, 131005), account locked or restricted (131031, 368), payment (131042);
- anything else 4xx: SendRejected (dead-lettered).
"""

import json
from typing import Any, Final

from switchboard.ai.errors import (
    ReengagementRequired,
    SendFailed,
    SendNotAuthorized,
    SendRejected,
    SendSkipped,
)

RETRY_CODES: Final = frozenset({1, 2, 4, 80007, 130429, 131000, 131016, 131056, 133004})
RECIPIENT_CODES: Final = frozenset({131021, 131026, 131030, 131050})
INVALID_CODES: Final = frozenset({100, 131008, 131009, 131051, 131052, 131053})
ALERT_CODES: Final = frozenset({0, 3, 10, 190, 131005, 131031, 131042, 368})
_RETRYABLE_STATUS: Final = frozenset({408, 409, 425, 429})


def _error(body: str) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except ValueError:
        return {}
    error = parsed.get("error") if isinstance(parsed, dict) else None
    return error if isinstance(error, dict) else {}


def _code(error: dict[str, Any]) -> int | None:
    code = error.get("code")
    try:
        return int(code) if code is not None and not isinstance(code, bool) else None
    except (TypeError, ValueError):
        return None


def classify(status: int, body: str, what: str) -> Exception:
    """The error to raise for a non-2xx Graph API answer."""
    error = _error(body)
    code = _code(error)
    details = (error.get("error_data") or {}).get("details") if error else None
    text = f"{what}: HTTP {status}, code {code}: {error.get('message') or body[:200]}"
    if details:
        text += f" ({details})"
    if code in RETRY_CODES or status in _RETRYABLE_STATUS or status >= 500:
        return SendFailed(text)
    if code == 131047:
        return ReengagementRequired(text)
    if code in RECIPIENT_CODES:
        return SendSkipped(text, "recipient_unavailable", str(code))
    if code in INVALID_CODES or (code is not None and 132000 <= code <= 132069):
        return SendSkipped(text, "invalid_parameter", str(code))
    if code in ALERT_CODES or (code is not None and 200 <= code <= 299) or status in (401, 403):
        return SendNotAuthorized(text, str(code) if code is not None else f"http_{status}")
    return SendRejected(text)
