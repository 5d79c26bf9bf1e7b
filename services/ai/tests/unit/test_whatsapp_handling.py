"""WhatsApp as Meta defines it, over fakes: every message type described or answered by the
business's rule, the 24-hour window and the template, read receipts, media, Graph errors."""

import base64
from datetime import timedelta

import pytest

from switchboard.ai.errors import (
    ReengagementRequired,
    SendFailed,
    SendNotAuthorized,
    SendSkipped,
)
from switchboard.ai.handlers import handle_inbound
from switchboard.ai.models import FetchedMedia, ReplyState, Template
from switchboard.common.events import (
    MessageChoice,
    MessageContent,
    MessageLocation,
    MessageMedia,
    MessageOrder,
    MessageReaction,
    MessageSent,
    OrderItem,
    SharedContact,
)

from ..fakes import fixed_now

TEMPLATE = Template("order_followup", "en_US", ("{contact_name}", "Acme Bakery"))
IMAGE = [MessageMedia(media_id="m-1", content_type="image/jpeg")]

DESCRIBED = [
    ("image", MessageContent(caption="this one?"), IMAGE, '[image: caption "this one?"]'),
    ("image", None, IMAGE, "[image]"),
    ("video", MessageContent(caption="unboxing"), None, '[video: caption "unboxing"]'),
    ("audio", MessageContent(voice=True), None, "[voice message]"),
    (
        "document",
        MessageContent(filename="invoice.pdf", caption="wrong total"),
        None,
        '[document: "invoice.pdf", caption "wrong total"]',
    ),
    ("sticker", MessageContent(animated=False), None, "[sticker]"),
    (
        "location",
        MessageContent(
            location=MessageLocation(
                latitude=38.9, longitude=-77.03, name="Philz", address="Main St"
            )
        ),
        None,
        "[location: Philz Main St (38.9, -77.03)]",
    ),
    (
        "contacts",
        MessageContent(contacts=[SharedContact(name="Barbara", phones=["+1 940 555 1234"])]),
        None,
        "[shared contact: Barbara +1 940 555 1234]",
    ),
    (
        "interactive",
        MessageContent(choice=MessageChoice(kind="button_reply", id="book", title="Book a table")),
        None,
        '[chose: "Book a table"]',
    ),
    (
        "interactive",
        MessageContent(
            choice=MessageChoice(
                kind="list_reply", id="r2", title="Vegan menu", description="No dairy"
            )
        ),
        None,
        '[chose: "Vegan menu" (No dairy)]',
    ),
    (
        "button",
        MessageContent(choice=MessageChoice(kind="button", id="YES", title="Yes please")),
        None,
        '[chose: "Yes please"]',
    ),
    (
        "order",
        MessageContent(
            order=MessageOrder(
                text="for Saturday",
                items=[
                    OrderItem(
                        product_retailer_id="sku-1", quantity=2, item_price=9.5, currency="EUR"
                    )
                ],
            )
        ),
        None,
        '[order: 2 x sku-1 at 9.5 EUR; note "for Saturday"]',
    ),
    ("poll_vote", None, None, "[poll_vote message]"),
]


@pytest.mark.parametrize(("kind", "content", "media", "words"), DESCRIBED)
async def test_each_type_reaches_the_model_in_words(world, build, kind, content, media, words):
    event = build.inbound(text=None, message_type=kind, content=content, media=media)
    assert await handle_inbound(event, world.pipeline) == "replied"
    [prompt] = world.model.prompts
    assert prompt[-1].content == words
    remembered = [m.content for m in world.conversations.messages.values() if m.role == "user"]
    assert remembered == [words]


@pytest.mark.parametrize(
    ("kind", "content"),
    [
        ("reaction", MessageContent(reaction=MessageReaction(emoji="👍", message_id="wamid.o"))),
        ("system", MessageContent(system="User changed number")),
    ],
)
async def test_reactions_and_system_notices_are_not_answered(world, build, kind, content):
    event = build.inbound(text=None, message_type=kind, content=content)
    assert await handle_inbound(event, world.pipeline) == "skipped_ignored_type"
    assert world.model.prompts == [] and world.sender.sent == []
    assert world.ledger.records == {}  # nothing is sent for it: nothing to deduplicate
    assert await handle_inbound(event, world.pipeline) == "skipped_ignored_type"
    # A reaction is the customer writing (it renews WhatsApp's window); a system notice is not.
    assert (world.windows.last != {}) is (kind == "reaction")


async def test_unsupported_gets_the_fallback_without_the_model(world, build):
    event = build.inbound(text=None, message_type="unsupported")
    assert await handle_inbound(event, world.pipeline) == "fallback"
    assert world.model.prompts == []
    assert [s.text for s in world.sender.sent] == ["We will get back to you soon."]


async def test_a_business_sets_its_own_rule_per_type(world, build, cipher):
    world.lookup.add(
        build.business(
            cipher, message_types={"reaction": "answer", "sticker": "fallback", "image": "ignore"}
        )
    )
    reaction = MessageContent(reaction=MessageReaction(emoji="❤️", message_id="wamid.o"))
    outcomes = [
        await handle_inbound(
            build.inbound("r", text=None, message_type="reaction", content=reaction), world.pipeline
        ),
        await handle_inbound(build.inbound("s", text=None, message_type="sticker"), world.pipeline),
        await handle_inbound(
            build.inbound("i", text=None, message_type="image", media=IMAGE), world.pipeline
        ),
    ]
    assert outcomes == ["replied", "fallback", "skipped_ignored_type"]
    [prompt] = world.model.prompts
    assert prompt[-1].content == "[reacted ❤️ to an earlier message]"


# The 24-hour customer-service window ------------------------------------------------------


def late(build, cipher=None, **kw):
    """A message handled 25 hours after the customer wrote it (a backlog, a replay)."""
    return build.inbound(received_at=fixed_now() - timedelta(hours=25), **kw)


async def test_outside_the_window_the_template_goes_instead_of_the_model(world, build, cipher):
    world.lookup.add(build.business(cipher, whatsapp_template=TEMPLATE))
    event = late(build, contact_name="Ada")
    assert await handle_inbound(event, world.pipeline) == "template"
    assert world.model.prompts == []
    [sent] = world.sender.sent
    assert sent.template == Template("order_followup", "en_US", ("Ada", "Acme Bakery"))
    [(out, _)] = world.publisher.published
    assert isinstance(out.data, MessageSent)
    assert out.data.template == "order_followup"
    assert out.data.text == '[template order_followup (en_US): "Ada", "Acme Bakery"]'


async def test_outside_the_window_without_a_template_nothing_is_sent(world, build):
    assert await handle_inbound(late(build), world.pipeline) == "skipped_window_closed"
    assert world.sender.sent == [] and world.model.prompts == []
    assert world.ledger.records["wamid.in1"].reason == "window_closed"


async def test_a_later_message_keeps_the_window_open_for_an_old_one(world, build):
    conversation = f"{build.wa_id}:15551230001"
    world.windows.last[conversation] = fixed_now() - timedelta(hours=2)
    assert await handle_inbound(late(build), world.pipeline) == "replied"
    assert world.sender.sent[0].template is None


async def test_the_window_is_read_only_for_late_messages_and_recorded_for_every_one(
    world, build, cipher
):
    reaction = MessageContent(reaction=MessageReaction(emoji="👍", message_id="wamid.o"))
    await handle_inbound(build.inbound("a", seq=0), world.pipeline)
    await handle_inbound(
        build.inbound("b", text=None, message_type="reaction", content=reaction, seq=60),
        world.pipeline,
    )
    await handle_inbound(
        build.inbound("c", text=None, message_type="system", seq=120), world.pipeline
    )
    await handle_inbound(
        build.inbound("d", channel_id=build.sms_number, contact="+1555", seq=180), world.pipeline
    )
    assert world.windows.reads == 0
    conversation = f"{build.wa_id}:15551230001"
    # the reaction renews the window, the system notice does not (not the customer writing)
    assert world.windows.last == {conversation: build.inbound(seq=60).data.received_at}


async def test_the_window_closes_a_margin_early(world, build):
    almost = build.inbound(received_at=fixed_now() - timedelta(hours=24) + timedelta(seconds=30))
    assert await handle_inbound(almost, world.pipeline) == "skipped_window_closed"


async def test_meta_refusing_free_text_sends_the_template(world, build, cipher):
    """Meta's clock decides: 131047 on free text → the template, once."""
    world.lookup.add(build.business(cipher, whatsapp_template=TEMPLATE))
    world.sender.refuse_text = ReengagementRequired("131047 (fake)")
    assert await handle_inbound(build.inbound(), world.pipeline) == "template"
    [sent] = world.sender.sent
    assert sent.template is not None and sent.template.name == "order_followup"
    assert world.ledger.records["wamid.in1"].state is ReplyState.SENT
    [(out, _)] = world.publisher.published
    assert out.data.template == "order_followup"
    assert out.data.model == "gpt-test"  # the model was asked (and paid for) before Meta said no


async def test_meta_refusing_free_text_without_a_template_is_skipped(world, build):
    world.sender.refuse_text = ReengagementRequired("131047 (fake)")
    assert await handle_inbound(build.inbound(), world.pipeline) == "skipped_window_closed"
    assert world.ledger.records["wamid.in1"].state is ReplyState.SKIPPED
    assert await handle_inbound(build.inbound(), world.pipeline) == "duplicate"


# Graph API errors --------------------------------------------------------------------------


async def test_recipient_unavailable_is_skipped_not_retried(world, build):
    world.sender.fail_with = [
        SendSkipped("131026 undeliverable", "recipient_unavailable", "131026")
    ]
    assert await handle_inbound(build.inbound(), world.pipeline) == "skipped_recipient_unavailable"
    assert await handle_inbound(build.inbound(), world.pipeline) == "duplicate"
    assert world.sender.sent == []


async def test_rate_limit_is_retried_with_the_same_reply(world, build):
    world.sender.fail_with = [SendFailed("130429 rate limit")]
    with pytest.raises(SendFailed):
        await handle_inbound(build.inbound(), world.pipeline)
    assert await handle_inbound(build.inbound(), world.pipeline) == "replied"
    assert len(world.model.prompts) == 1


async def test_invalid_token_is_raised_for_the_dead_letters_and_counted(world, build):
    from prometheus_client import REGISTRY

    def counted() -> float:
        return (
            REGISTRY.get_sample_value("switchboard_ai_send_not_authorized_total", {"code": "190"})
            or 0.0
        )

    before = counted()
    world.sender.fail_with = [SendNotAuthorized("190 token expired", "190")]
    with pytest.raises(SendNotAuthorized):
        await handle_inbound(build.inbound(), world.pipeline)
    assert counted() == before + 1
    # nothing was sent: once the token is fixed, the replayed message is answered
    assert await handle_inbound(build.inbound(), world.pipeline) == "replied"


# Read receipts -----------------------------------------------------------------------------


async def test_read_receipts_when_the_business_wants_them(world, build, cipher):
    world.lookup.add(build.business(cipher, read_receipts=True))
    reaction = MessageContent(reaction=MessageReaction(emoji="👍", message_id="wamid.o"))
    await handle_inbound(build.inbound("a"), world.pipeline)
    await handle_inbound(
        build.inbound("b", text=None, message_type="reaction", content=reaction), world.pipeline
    )
    await handle_inbound(
        build.inbound("c", channel_id=build.sms_number, contact="+1555"), world.pipeline
    )
    assert world.sender.read == ["a"]  # answered WhatsApp messages only


async def test_no_read_receipts_by_default_and_a_failed_one_does_not_fail_the_reply(
    world, build, cipher
):
    await handle_inbound(build.inbound("a"), world.pipeline)
    assert world.sender.read == []
    world.lookup.add(build.business(cipher, read_receipts=True))
    world.cache._businesses.clear()
    world.sender.fail_reads = SendFailed("503")
    assert await handle_inbound(build.inbound("b"), world.pipeline) == "replied"


# Media -------------------------------------------------------------------------------------


async def test_images_are_shown_to_the_model_when_the_business_fetches_media(world, build, cipher):
    world.lookup.add(build.business(cipher, fetch_media=True))
    world.media.files["m-1"] = FetchedMedia("image/jpeg", b"\xff\xd8jpeg")
    event = build.inbound(
        text="this one?",
        message_type="image",
        content=MessageContent(caption="this one?"),
        media=IMAGE,
    )
    assert await handle_inbound(event, world.pipeline) == "replied"
    [prompt] = world.model.prompts
    assert prompt[-1].content == '[image: caption "this one?"]'
    assert prompt[-1].images == (
        "data:image/jpeg;base64," + base64.b64encode(b"\xff\xd8jpeg").decode(),
    )


async def test_text_documents_are_read_and_failures_fall_back_to_words(world, build, cipher):
    world.lookup.add(build.business(cipher, fetch_media=True))
    world.media.files["m-txt"] = FetchedMedia("text/plain", b"2 loaves, 1 cake")
    doc = build.inbound(
        "d",
        text=None,
        message_type="document",
        content=MessageContent(filename="order.txt"),
        media=[MessageMedia(media_id="m-txt", content_type="text/plain")],
    )
    gone = build.inbound(
        "g",
        text=None,
        message_type="image",
        media=[MessageMedia(media_id="expired", content_type="image/png")],
    )
    assert await handle_inbound(doc, world.pipeline) == "replied"
    assert await handle_inbound(gone, world.pipeline) == "replied"
    first, second = world.model.prompts
    assert (
        first[-1].content == '[document: "order.txt"]\n\nContent of the document:\n2 loaves, 1 cake'
    )
    assert (second[-1].content, second[-1].images) == ("[image]", ())


async def test_media_are_not_fetched_unless_the_business_enables_it(world, build):
    event = build.inbound(text=None, message_type="image", media=IMAGE)
    assert await handle_inbound(event, world.pipeline) == "replied"
    assert world.media.fetched == []
    assert world.model.prompts[0][-1].images == ()
