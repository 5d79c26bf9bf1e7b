"""Why a webhook is turned away; each class carries its HTTP status.

WebhookRejected
 ├── SignatureInvalid     403  missing or wrong signature, unknown account
 ├── UnsupportedMedia     415  wrong Content-Type
 ├── BodyTooLarge         413  body over the configured limit
 ├── EventTooLarge        413  an event over Kafka's record limit even after trimming
 ├── PayloadInvalid       422  verified but not a payload we understand
 ├── BrokerUnavailable    503  not durable yet; the provider should retry
 └── ConfigNotLoaded      503  the control plane's configuration is not loaded yet
"""

from litestar.exceptions import HTTPException
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_403_FORBIDDEN,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_503_SERVICE_UNAVAILABLE,
)


class WebhookRejected(HTTPException):
    """Root: the request was not accepted and nothing was published."""

    reason: str = "rejected"


class SignatureInvalid(WebhookRejected):
    status_code = HTTP_403_FORBIDDEN
    reason = "signature"


class UnsupportedMedia(WebhookRejected):
    status_code = HTTP_415_UNSUPPORTED_MEDIA_TYPE
    reason = "content_type"


class BodyTooLarge(WebhookRejected):
    status_code = HTTP_413_REQUEST_ENTITY_TOO_LARGE
    reason = "too_large"


class EventTooLarge(WebhookRejected):
    status_code = HTTP_413_REQUEST_ENTITY_TOO_LARGE
    reason = "event_too_large"


class PayloadUnreadable(WebhookRejected):
    status_code = HTTP_400_BAD_REQUEST
    reason = "unreadable"


class PayloadInvalid(WebhookRejected):
    status_code = HTTP_422_UNPROCESSABLE_ENTITY
    reason = "payload"


class BrokerUnavailable(WebhookRejected):
    status_code = HTTP_503_SERVICE_UNAVAILABLE
    reason = "broker"


class ConfigNotLoaded(WebhookRejected):
    status_code = HTTP_503_SERVICE_UNAVAILABLE
    reason = "config"
