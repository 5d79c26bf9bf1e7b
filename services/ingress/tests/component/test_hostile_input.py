"""No input makes the ingress answer 500 or publish anything it did not verify."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchboard.ingress.webhooks.common import FORM

ROUTES = [
    "/webhooks/twilio/voice/status",
    "/webhooks/twilio/messaging",
    "/webhooks/twilio/messaging/status",
    "/webhooks/whatsapp",
    "/webhooks/vapi",
    "/webhooks/elevenlabs",
]


def test_wrong_content_type_is_415(client, kafka, sign) -> None:
    body, headers = sign.twilio(ROUTES[0], sign.call_status())
    headers["content-type"] = "application/json"
    assert client.post(ROUTES[0], content=body, headers=headers).status_code == 415
    body, headers = sign.whatsapp({"object": "whatsapp_business_account", "entry": []})
    headers["content-type"] = "text/plain"
    assert client.post(ROUTES[3], content=body, headers=headers).status_code == 415
    assert kafka.published == []


def test_body_over_the_limit_is_413(make_client, kafka, sign) -> None:
    with make_client(max_body_bytes=1024) as client:
        big = {"object": "whatsapp_business_account", "entry": [], "pad": "x" * 4096}
        body, headers = sign.whatsapp(big)
        assert client.post(ROUTES[3], content=body, headers=headers).status_code == 413
    assert kafka.published == []


def test_body_over_the_limit_without_a_length_is_413(make_client, kafka, sign) -> None:
    """A chunked body (no Content-Length) is counted as it arrives."""
    with make_client(max_body_bytes=1024) as client:
        body, headers = sign.twilio(ROUTES[0], {**sign.call_status(), "Pad": "x" * 4096})
        headers.pop("content-length", None)
        response = client.post(ROUTES[0], content=iter([body[:512], body[512:]]), headers=headers)
        assert response.status_code == 413
        assert response.json()["reason"] == "too_large"
        small, headers = sign.twilio(ROUTES[0], sign.call_status())
        assert client.post(ROUTES[0], content=iter([small]), headers=headers).status_code == 204
    assert len(kafka.published) == 1


def test_rate_limit_per_ip_is_429(make_client, sign) -> None:
    with make_client(rate_limit_per_second=3) as client:
        codes = [
            client.post(
                ROUTES[4], content=b"{}", headers={"content-type": "application/json"}
            ).status_code
            for _ in range(6)
        ]
    assert codes[:3] == [403, 403, 403]
    assert 429 in codes[3:]


def test_security_headers_and_request_id_on_every_answer(client, sign) -> None:
    given_id = "req-123"
    for response in (
        client.get("/health", headers={"x-request-id": given_id}),
        client.get("/nope"),
        client.post(ROUTES[4], content=b"{}", headers={"content-type": "application/json"}),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert response.headers["x-request-id"]
    assert (
        client.get("/health", headers={"x-request-id": given_id}).headers["x-request-id"]
        == given_id
    )


def test_the_api_docs_page_may_load_its_assets_and_nothing_else_may(client) -> None:
    """Swagger UI loads its scripts from a CDN and starts with an inline script: under the
    strict policy a browser would show a blank page."""
    page = client.get("/schema/swagger")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net" in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["x-frame-options"] == "DENY"
    for strict in (client.get("/schema/openapi.json"), client.get("/health")):
        assert strict.headers["content-security-policy"] == (
            "default-src 'none'; frame-ancestors 'none'"
        )


def test_cors_is_closed(client) -> None:
    response = client.options(
        "/webhooks/vapi",
        headers={"origin": "https://evil.test", "access-control-request-method": "POST"},
    )
    assert "access-control-allow-origin" not in response.headers


def test_openapi_lists_every_route(client) -> None:
    paths = client.get("/schema/openapi.json").json()["paths"]
    for route in ROUTES:
        assert route in paths or route + "/" in paths or route.rstrip("/") in paths
        post = paths[route]["post"]
        assert post["requestBody"]["required"] is True
        assert {"403", "413", "415"} <= set(post["responses"])
        media = [*post["requestBody"]["content"]]
        media += [m for answer in post["responses"].values() for m in answer.get("content", ())]
        assert all(m in ("application/json", FORM, "text/xml") for m in media), media


def test_webhook_routes_take_only_post(client) -> None:
    for route in ROUTES:
        for method in ("PUT", "DELETE", "PATCH"):
            answer = client.request(method, route)
            assert answer.status_code == 405, (method, route)
            assert "POST" in answer.headers["allow"]
            assert answer.headers["x-content-type-options"] == "nosniff"


bodies = st.one_of(
    st.binary(max_size=300),
    st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=5).map(
        lambda d: json.dumps(d).encode()
    ),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
        max_leaves=10,
    ).map(lambda v: json.dumps(v).encode()),
)
content_types = st.sampled_from(
    [
        "application/json",
        "application/x-www-form-urlencoded",
        "text/plain",
        "",
        "application/json; charset=utf-8",
    ]
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    route=st.sampled_from(ROUTES),
    body=bodies,
    content_type=content_types,
    signature=st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
)
def test_no_input_gives_5xx_or_publishes_unverified(
    client, kafka, route, body, content_type, signature
) -> None:
    headers = {
        "content-type": content_type,
        "x-twilio-signature": signature,
        "x-hub-signature-256": signature,
        "x-vapi-secret": signature,
        "elevenlabs-signature": signature,
    }
    response = client.post(route, content=body, headers=headers)
    assert response.status_code < 500, response.text
    assert response.status_code in (400, 403, 413, 415, 422)
    assert kafka.published == []


payloads = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda c: (
        st.lists(c, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "object",
                    "entry",
                    "changes",
                    "field",
                    "value",
                    "metadata",
                    "messages",
                    "statuses",
                    "id",
                    "from",
                    "type",
                    "text",
                    "body",
                    "phone_number_id",
                    "status",
                    "recipient_id",
                    "timestamp",
                    "errors",
                    "context",
                ]
            ),
            c,
            max_size=4,
        )
    ),
    max_leaves=25,
)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payload=payloads)
def test_signed_but_arbitrary_whatsapp_json_never_5xx(client, sign, payload) -> None:
    """Without a configured WABA in ``entry[].id`` no app can have signed it: 403; with one,
    any signed JSON is acknowledged (Meta redelivers a refused batch for days)."""
    body, headers = sign.whatsapp(payload)
    assert client.post(ROUTES[3], content=body, headers=headers).status_code in (200, 403)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(changes=payloads)
def test_signed_arbitrary_changes_of_a_known_waba_never_5xx(client, sign, changes) -> None:
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": sign.waba, "changes": changes}],
    }
    body, headers = sign.whatsapp(payload)
    assert client.post(ROUTES[3], content=body, headers=headers).status_code == 200  # never refused
