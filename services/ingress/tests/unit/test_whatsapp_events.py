"""WhatsApp notification → events: what each message type carries is kept in the event."""

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard.common.events import MessageReceived, MessageStatusChanged, MessageStatusOther
from switchboard.ingress.mappers import Owner
from switchboard.ingress.mappers.whatsapp import notification

PHONE_NUMBER_ID = "106540352242922"


def acme(waba: str | None, phone_number_id: str) -> Owner:
    return Owner("acme")


def batch(*, messages: list[dict] = (), statuses: list[dict] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550783881",
                                "phone_number_id": PHONE_NUMBER_ID,
                            },
                            "contacts": [{"profile": {"name": "Kerry"}, "wa_id": "16505551234"}],
                            "messages": list(messages),
                            "statuses": list(statuses),
                        },
                    }
                ],
            }
        ],
    }


def message(kind: str, body: Any, **extra: Any) -> dict[str, Any]:
    return {
        "from": "16505551234",
        "id": f"wamid.{kind}",
        "timestamp": "1749416383",
        "type": kind,
        kind: body,
        **extra,
    }


def received(msg: dict[str, Any]) -> MessageReceived:
    parsed = notification(batch(messages=[msg]), acme)
    assert parsed.skipped == []
    [out] = parsed.events
    assert out.topic == "message.inbound"
    assert isinstance(out.event.data, MessageReceived)
    return out.event.data


def test_text_has_no_content() -> None:
    data = received(message("text", {"body": "Hi"}))
    assert (data.message_type, data.text, data.content) == ("text", "Hi", None)


@pytest.mark.parametrize(
    ("kind", "body", "expected"),
    [
        (
            "image",
            {"caption": "this one?", "mime_type": "image/jpeg", "sha256": "x", "id": "m-img"},
            {"caption": "this one?"},
        ),
        (
            "video",
            {"caption": "unboxing", "mime_type": "video/mp4", "sha256": "x", "id": "m-vid"},
            {"caption": "unboxing"},
        ),
        (
            "document",
            {
                "caption": "my order",
                "filename": "invoice.pdf",
                "mime_type": "application/pdf",
                "sha256": "x",
                "id": "m-doc",
            },
            {"caption": "my order", "filename": "invoice.pdf"},
        ),
        (
            "audio",
            {"mime_type": "audio/ogg; codecs=opus", "id": "m-aud", "voice": True},
            {"voice": True},
        ),
        (
            "sticker",
            {"mime_type": "image/webp", "id": "m-stk", "animated": False},
            {"animated": False},
        ),
    ],
)
def test_media_keeps_id_mime_type_and_caption(kind, body, expected) -> None:
    data = received(message(kind, body))
    assert data.message_type == kind
    [media] = data.media
    assert (media.media_id, media.content_type) == (body["id"], body["mime_type"])
    assert data.content is not None
    assert data.content.model_dump(exclude_defaults=True) == expected
    assert data.text == body.get("caption")


def test_location() -> None:
    data = received(
        message(
            "location",
            {
                "latitude": 38.9,
                "longitude": -77.03,
                "name": "Philz Coffee",
                "address": "1 Main St",
                "url": "https://philz.example",
            },
        )
    )
    assert data.content is not None and data.content.location is not None
    loc = data.content.location
    assert (loc.latitude, loc.longitude, loc.name, loc.address) == (
        38.9,
        -77.03,
        "Philz Coffee",
        "1 Main St",
    )


def test_contacts() -> None:
    card = {
        "name": {"formatted_name": "Barbara J. Johnson", "first_name": "Barbara"},
        "phones": [{"phone": "+1 (940) 555-1234", "type": "HOME", "wa_id": "19405551234"}],
        "emails": [{"email": "bjohnson@example.com", "type": "WORK"}],
        "org": {"company": "Social Tsunami"},
    }
    msg = {"from": "16505551234", "id": "wamid.c", "timestamp": "1", "type": "contacts"}
    data = received({**msg, "contacts": [card]})
    assert data.content is not None
    [shared] = data.content.contacts
    assert shared.name == "Barbara J. Johnson"
    assert shared.phones == ["+1 (940) 555-1234"]
    assert shared.emails == ["bjohnson@example.com"]
    assert shared.organization == "Social Tsunami"


@pytest.mark.parametrize(
    ("body", "kind", "choice_id", "title"),
    [
        (
            {"type": "button_reply", "button_reply": {"id": "book", "title": "Book a table"}},
            "button_reply",
            "book",
            "Book a table",
        ),
        (
            {
                "type": "list_reply",
                "list_reply": {"id": "row-2", "title": "Vegan menu", "description": "No dairy"},
            },
            "list_reply",
            "row-2",
            "Vegan menu",
        ),
    ],
)
def test_interactive_reply_keeps_the_chosen_id_and_title(body, kind, choice_id, title) -> None:
    data = received(message("interactive", body))
    assert data.content is not None and data.content.choice is not None
    choice = data.content.choice
    assert (choice.kind, choice.id, choice.title) == (kind, choice_id, title)
    assert data.text == title


def test_flow_reply() -> None:
    body = {
        "type": "nfm_reply",
        "nfm_reply": {"name": "flow", "body": "Sent", "response_json": '{"seats": 2}'},
    }
    data = received(message("interactive", body))
    assert data.content is not None and data.content.choice is not None
    assert data.content.choice.kind == "nfm_reply"
    assert data.content.choice.description == '{"seats": 2}'


def test_template_quick_reply_button() -> None:
    data = received(
        message(
            "button",
            {"payload": "STOP_PROMOS", "text": "Stop promotions"},
            context={"id": "wamid.tpl"},
        )
    )
    assert data.content is not None and data.content.choice is not None
    assert (data.content.choice.kind, data.content.choice.id) == ("button", "STOP_PROMOS")
    assert data.content.replied_to == "wamid.tpl"
    assert data.text == "Stop promotions"


def test_reaction_and_removed_reaction() -> None:
    data = received(message("reaction", {"message_id": "wamid.ours", "emoji": "👍"}))
    assert data.content is not None and data.content.reaction is not None
    assert (data.content.reaction.emoji, data.content.reaction.message_id) == ("👍", "wamid.ours")
    removed = received(message("reaction", {"message_id": "wamid.ours"}))
    assert removed.content is not None and removed.content.reaction is not None
    assert removed.content.reaction.emoji is None


def test_order() -> None:
    body = {
        "catalog_id": "cat-1",
        "text": "for Saturday",
        "product_items": [
            {"product_retailer_id": "sku-1", "quantity": 2, "item_price": 9.5, "currency": "EUR"}
        ],
    }
    data = received(message("order", body))
    assert data.content is not None and data.content.order is not None
    order = data.content.order
    assert (order.catalog_id, order.text) == ("cat-1", "for Saturday")
    [item] = order.items
    assert (item.product_retailer_id, item.quantity, item.item_price) == ("sku-1", 2, 9.5)


def test_system_notice() -> None:
    body = {"body": "User A changed from 1 to 2", "wa_id": "2", "type": "user_changed_number"}
    data = received(message("system", body))
    assert data.content is not None
    assert data.content.system == "User A changed from 1 to 2"


def test_unsupported_keeps_the_error() -> None:
    msg = {
        "from": "16505551234",
        "id": "wamid.u",
        "timestamp": "1749416383",
        "type": "unsupported",
        "errors": [
            {
                "code": 131051,
                "title": "Message type unknown",
                "message": "Message type unknown",
                "error_data": {"details": "Message type is currently not supported."},
            }
        ],
    }
    data = received(msg)
    assert data.content is not None
    [error] = data.content.errors
    assert (error.code, error.title) == ("131051", "Message type unknown")
    assert error.details == "Message type is currently not supported."


def test_unknown_type_and_fields_are_kept_raw() -> None:
    msg = message("poll_vote", {"option": 2}, future_field={"a": 1})
    data = received(msg)
    assert data.message_type == "poll_vote"
    assert data.text is None
    assert data.raw["message"]["poll_vote"] == {"option": 2}
    assert data.raw["message"]["future_field"] == {"a": 1}


def test_statuses_known_and_other() -> None:
    statuses = [
        {
            "id": "wamid.1",
            "status": "failed",
            "timestamp": "1",
            "recipient_id": "1650",
            "errors": [{"code": 131047, "title": "Re-engagement message"}],
        },
        {"id": "wamid.2", "status": "deleted", "timestamp": "2", "recipient_id": "1650"},
    ]
    failed, deleted = (o.event.data for o in notification(batch(statuses=statuses), acme).events)
    assert isinstance(failed, MessageStatusChanged)
    assert (failed.status.value, failed.error_code) == ("failed", "131047")
    assert isinstance(deleted, MessageStatusOther)
    assert deleted.status == "deleted"


def test_odd_values_never_refuse_the_batch() -> None:
    """Wrong types in optional places are read leniently; only a message without its identity
    is set aside."""
    odd = message("location", {"latitude": "not a number", "longitude": None})
    odd["timestamp"] = {"weird": True}
    nameless = {"type": "text", "text": {"body": "no id, no from"}}
    parsed = notification(batch(messages=[odd, nameless]), acme)
    [out] = parsed.events
    assert out.event.data.content.location.latitude is None
    [skipped] = parsed.skipped
    assert skipped.part == "message" and skipped.payload == nameless


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda c: (
        st.lists(c, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "caption",
                    "filename",
                    "voice",
                    "animated",
                    "latitude",
                    "longitude",
                    "name",
                    "type",
                    "button_reply",
                    "list_reply",
                    "nfm_reply",
                    "id",
                    "title",
                    "payload",
                    "text",
                    "emoji",
                    "message_id",
                    "product_items",
                    "quantity",
                    "body",
                    "phones",
                    "emails",
                    "org",
                    "formatted_name",
                    "error_data",
                    "code",
                    "details",
                ]
            ),
            c,
            max_size=4,
        )
    ),
    max_leaves=20,
)
_TYPES = st.sampled_from(
    [
        "text",
        "image",
        "audio",
        "video",
        "document",
        "sticker",
        "location",
        "contacts",
        "interactive",
        "button",
        "reaction",
        "order",
        "system",
        "unsupported",
        "other",
    ]
)


@settings(max_examples=300, deadline=None)
@given(kind=_TYPES, body=_JSON, errors=_JSON, context=_JSON)
def test_any_body_of_any_type_becomes_an_event(kind, body, errors, context) -> None:
    """Whatever a message's type body holds, the message is published (never an error)."""
    msg = {"from": "1650", "id": "wamid.f", "type": kind, kind: body, "errors": errors}
    msg["context"] = context
    parsed = notification(batch(messages=[msg]), acme)
    assert parsed.skipped == []
    assert len(parsed.events) == 1
