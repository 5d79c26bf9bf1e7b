"""Meta's Graph API error answers for WhatsApp Cloud API sends, by code.

Shaped as Meta answers them: ``{"error": {"message": "(#<code>) <title>", "type", "code",
"error_data": {"messaging_product": "whatsapp", "details"}, "fbtrace_id"}}`` with the HTTP
status Meta's error-code table gives. Tests queue them (``POST /_sim/whatsapp/errors``), and
the send endpoint answers the ones the simulator enforces itself (131047 outside the window,
132001 for a template that is not approved, 190 for a wrong token, 100 for bad input).
"""

from dataclasses import dataclass
from typing import Any, Final

from litestar import Response


@dataclass(frozen=True, slots=True)
class GraphError:
    status: int
    title: str
    details: str
    kind: str = "OAuthException"


REENGAGEMENT_DETAILS: Final = (
    "Message failed to send because more than 24 hours have passed since the customer last "
    "replied to this number."
)

ERRORS: Final[dict[int, GraphError]] = {
    0: GraphError(401, "AuthException", "We were unable to authenticate the app user."),
    2: GraphError(503, "API Service", "Temporary due to downtime or due to being overloaded."),
    4: GraphError(400, "API Too Many Calls", "The app has reached its API call rate limit."),
    10: GraphError(
        403, "Permission Denied", "Permission is either not granted or has been removed."
    ),
    100: GraphError(
        400, "Invalid parameter", "The request included an unsupported or misspelled parameter."
    ),
    190: GraphError(401, "Access token has expired", "Error validating access token."),
    200: GraphError(403, "API Permission", "Permission is either not granted or has been removed."),
    368: GraphError(
        403,
        "Temporarily blocked for policies violations",
        "The account was restricted for violating a platform policy.",
    ),
    80007: GraphError(
        400, "Rate limit issues", "The WhatsApp Business Account has reached its rate limit."
    ),
    130429: GraphError(400, "Rate limit hit", "Cloud API message throughput has been reached."),
    131000: GraphError(
        500, "Something went wrong", "Message failed to send due to an unknown error."
    ),
    131005: GraphError(
        403, "Access denied", "Permission is either not granted or has been removed."
    ),
    131009: GraphError(
        400, "Parameter value is not valid", "One or more parameter values are invalid."
    ),
    131026: GraphError(
        400,
        "Message undeliverable",
        "Unable to deliver message: the recipient is not on WhatsApp or cannot receive it.",
    ),
    131030: GraphError(
        400,
        "Recipient phone number not in allowed list",
        "Add the recipient phone number to the allowed list.",
    ),
    131031: GraphError(
        403, "Account has been locked", "The WhatsApp Business Account is restricted or disabled."
    ),
    131047: GraphError(400, "Re-engagement message", REENGAGEMENT_DETAILS),
    131056: GraphError(
        400,
        "(Business Account, Consumer Account) pair rate limit hit",
        "Too many messages sent from this phone number to the same phone number in a short "
        "period of time.",
    ),
    132001: GraphError(
        404,
        "Template name does not exist in the translation",
        "The template does not exist in this language or is not approved.",
    ),
}


def graph_error(code: int, details: str | None = None) -> Response[Any]:
    """Meta's answer for ``code`` (an unknown code: a 400 with that code)."""
    known = ERRORS.get(code, GraphError(400, "Error", "Simulated error."))
    body = {
        "error": {
            "message": f"(#{code}) {known.title}",
            "type": known.kind,
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": details or known.details},
            "fbtrace_id": "AsimTrace",
        }
    }
    return Response(body, status_code=known.status)


def status_error(code: int) -> dict[str, Any]:
    """The same error as a failed status webhook reports it (``statuses[].errors[]``)."""
    known = ERRORS.get(code, GraphError(400, "Error", "Simulated error."))
    return {
        "code": code,
        "title": known.title,
        "message": known.title,
        "error_data": {"details": known.details},
        "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
    }
