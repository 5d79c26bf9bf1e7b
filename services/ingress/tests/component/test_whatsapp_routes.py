from switchboard.common.events import MessageReceived, MessageStatusChanged

PATH = "/webhooks/whatsapp"


def test_subscription_check_echoes_the_challenge(client, sign) -> None:
    ok = client.get(
        PATH,
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": sign.wa_verify,
            "hub.challenge": "1158201444",
        },
    )
    assert ok.status_code == 200
    assert ok.text == "1158201444"
    assert ok.headers["content-type"].startswith("text/plain")
    bad = client.get(
        PATH, params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"}
    )
    assert bad.status_code == 403
    assert client.get(PATH).status_code == 403


def test_batch_becomes_one_event_per_message_and_status(client, kafka, sign) -> None:
    body, headers = sign.whatsapp(sign.sample("whatsapp_text_and_status.json"))
    response = client.post(PATH, content=body, headers=headers)
    assert response.status_code == 200, response.text
    events = kafka.events()
    assert [t for t, _, _ in events] == ["message.inbound", "message.inbound", "message.status"]
    assert {k for _, k, _ in events} == {b"106540352242922:16505551234"}
    text, image, status = (e for _, _, e in events)
    assert isinstance(text.data, MessageReceived) and isinstance(image.data, MessageReceived)
    assert text.data.text == "Does it come in another color?"
    assert text.data.contact_name == "Sheena Nelson"
    assert text.tenant == "acme-wa"
    assert image.data.media[0].media_id == "1003383421387256"
    assert image.data.text == "like this one"
    assert isinstance(status.data, MessageStatusChanged)
    assert status.data.status.value == "delivered"
    assert len({e.id for _, _, e in events}) == 3


def test_same_notification_twice_gives_the_same_event_ids(client, kafka, sign) -> None:
    body, headers = sign.whatsapp(sign.sample("whatsapp_text_and_status.json"))
    client.post(PATH, content=body, headers=headers)
    client.post(PATH, content=body, headers=headers)
    ids = [e.id for _, _, e in kafka.events()]
    assert ids[:3] == ids[3:]


def test_signature_is_over_the_raw_bytes(client, kafka, sign) -> None:
    body, headers = sign.whatsapp(sign.sample("whatsapp_text_and_status.json"))
    reserialised = body.replace(b", ", b",")  # same JSON, other bytes
    assert client.post(PATH, content=reserialised, headers=headers).status_code == 403
    del headers["x-hub-signature-256"]
    assert client.post(PATH, content=body, headers=headers).status_code == 403
    _, wrong = sign.whatsapp(sign.sample("whatsapp_text_and_status.json"), secret="other")
    assert client.post(PATH, content=body, headers=wrong).status_code == 403
    assert kafka.published == []


def test_rotated_app_secret_is_accepted(client, kafka, sign) -> None:
    body, headers = sign.whatsapp(
        sign.sample("whatsapp_text_and_status.json"), secret="old-app-secret-0001"
    )
    assert client.post(PATH, content=body, headers=headers).status_code == 200


def test_unreadable_body_is_a_403(client, kafka, sign) -> None:
    # Not JSON: no WABA id names the app whose secret could verify it.
    body, headers = sign.whatsapp(b"{not json")
    response = client.post(PATH, content=body, headers=headers)
    assert response.status_code == 403
    assert "JSON" in response.json()["detail"]
    assert kafka.published == []


def test_signed_parts_we_cannot_read_are_counted_and_the_rest_published(
    client, kafka, sign
) -> None:
    """Never a 4xx for a verified batch (Meta would redeliver it for days): what cannot become
    an event is logged and counted, everything else in the batch is published."""
    before = {p: _skipped(client, p) for p in ("change", "status", "notification")}
    body, headers = sign.whatsapp({"object": "page", "entry": [{"id": sign.waba}]})
    assert client.post(PATH, content=body, headers=headers).status_code == 200
    bad = sign.sample("whatsapp_text_and_status.json")
    del bad["entry"][0]["changes"][0]["value"]["metadata"]  # the two messages' change
    bad["entry"][1]["changes"][0]["value"]["statuses"].append({"status": "sent"})  # no id
    bad["entry"][1]["changes"][0]["value"]["statuses"][0]["timestamp"] = "not a time"
    body, headers = sign.whatsapp(bad)
    response = client.post(PATH, content=body, headers=headers)
    assert response.status_code == 200, response.text
    [(topic, _, event)] = kafka.events()
    assert topic == "message.status" and event.data.status.value == "delivered"
    after = {p: _skipped(client, p) for p in before}
    assert {p: after[p] - before[p] for p in before} == {
        "change": 1,
        "status": 1,
        "notification": 1,
    }


def _skipped(client, part: str) -> float:
    prefix = f'switchboard_ingress_whatsapp_skipped_total{{part="{part}"}} '
    lines = [ln for ln in client.get("/metrics").text.splitlines() if ln.startswith(prefix)]
    return float(lines[0].removeprefix(prefix)) if lines else 0.0


def test_other_fields_are_acknowledged_without_events(client, kafka, sign) -> None:
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": sign.waba,
                "changes": [{"field": "account_update", "value": {"event": "VERIFIED"}}],
            }
        ],
    }
    body, headers = sign.whatsapp(payload)
    assert client.post(PATH, content=body, headers=headers).status_code == 200
    assert kafka.published == []


def test_batch_is_all_or_nothing_when_kafka_is_down(client, kafka, sign) -> None:
    kafka.down = True
    body, headers = sign.whatsapp(sign.sample("whatsapp_text_and_status.json"))
    assert client.post(PATH, content=body, headers=headers).status_code == 200
    assert "switchboard_ingress_spool_depth 3.0" in client.get("/metrics").text


def _status_batch(*statuses: dict) -> dict:
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
                                "phone_number_id": "106540352242922",
                            },
                            "statuses": list(statuses),
                        },
                    }
                ],
            }
        ],
    }


def test_unknown_status_is_published_as_it_is_never_a_4xx(client, kafka, sign) -> None:
    """Meta adds status values (``deleted``, ``warning``, ``played`` ...): a 4xx would make it
    redeliver the whole signed batch for days, so the batch is accepted and the status kept."""
    known = {"id": "wamid.A", "status": "read", "timestamp": "1750263773", "recipient_id": "1650"}
    unknown = {
        "id": "wamid.B",
        "status": "played",
        "timestamp": "1750263774",
        "recipient_id": "1650",
        "new_field": {"kept": True},
    }
    body, headers = sign.whatsapp(_status_batch(known, unknown))
    response = client.post(PATH, content=body, headers=headers)
    assert response.status_code == 200, response.text
    events = [e for _, _, e in kafka.events()]
    assert [e.type for e in events] == [
        "switchboard.message.status.v1",
        "switchboard.message.status.other.v1",
    ]
    other = events[1].data
    assert other.status == "played"
    assert other.message_id == "wamid.B"
    assert other.raw["status"]["new_field"] == {"kept": True}
