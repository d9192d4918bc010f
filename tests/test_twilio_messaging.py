"""SMS and WhatsApp through Twilio's messaging webhook: signature, parsing, Flex Flow matching,
idempotent retries."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from switchboard.devstack import start_dev_server, wait_until_ready
from tests.helpers.messages import channels_of, messages_of, only_channel, stack_idle
from tests.helpers.stack import Stack, StackFactory, eventually, free_port, new_phone


def test_sms_reaches_a_channel_with_flex_attributes(stack: Stack) -> None:
    with stack.http() as http:
        service = stack.create_service(http)
        flow = stack.create_flex_flow(http, service)
        customer = new_phone()
        response = stack.post_webhook(http, stack.sms_params(flow["contact_identity"], customer, "hi there"))
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/xml")
        assert "<Response>" in response.text
        channel = only_channel(http, service)
        attributes = json.loads(channel["attributes"])
        assert attributes == {"from": customer, "channel_type": "sms", "status": "ACTIVE", "long_lived": False}
        messages = messages_of(http, service, channel["sid"])
        assert [(m["index"], m["body"], m["from"]) for m in messages] == [(0, "hi there", customer)]
        members = http.get(f"/v2/Services/{service}/Channels/{channel['sid']}/Members").json()["members"]
        assert [m["identity"] for m in members] == [customer]


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, make_stack: StackFactory, stack: Stack) -> Stack:
    """The shared SQLite stack, or a stack on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return stack
    return make_stack(database_url=request.getfixturevalue("postgres_url"))


def test_duplicate_webhooks_are_stored_once(any_store: Stack) -> None:
    stack = any_store
    with stack.http() as http:
        service = stack.create_service(http)
        flow = stack.create_flex_flow(http, service)
        customer = new_phone()
        params = stack.sms_params(flow["contact_identity"], customer, "only once")
        for _ in range(4):
            assert stack.post_webhook(http, params).status_code == 200
        second = stack.sms_params(flow["contact_identity"], customer, "second")
        assert stack.post_webhook(http, second).status_code == 200
        assert stack.post_webhook(http, params).status_code == 200  # a late retry of the first
        channel = only_channel(http, service, messages=2)
        # Give a wrongly stored third copy time to appear before asserting there is none.
        eventually(lambda: stack_idle(stack, channel["sid"]))
        assert [m["body"] for m in messages_of(http, service, channel["sid"])] == ["only once", "second"]
        assert http.get(f"/v2/Services/{service}/Channels/{channel['sid']}").json()["messages_count"] == 2


def test_bad_signature_is_refused(stack: Stack) -> None:
    with stack.http() as http:
        service = stack.create_service(http)
        flow = stack.create_flex_flow(http, service)
        params = stack.sms_params(flow["contact_identity"], new_phone(), "forged")
        url = f"{stack.url}/webhooks/twilio/messaging"
        forged = http.post(url, data=params, headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"})
        assert forged.status_code == 403 and "X-Twilio-Signature" in forged.json()["message"]
        unsigned = http.post(url, data=params)
        assert unsigned.status_code == 403
        tampered = dict(params, Body="changed after signing")
        signed_original = http.post(url, data=tampered, headers={"X-Twilio-Signature": stack.sign(url, params)})
        assert signed_original.status_code == 403
        assert channels_of(http, service) == []


def test_malformed_forms_name_the_parameter(stack: Stack) -> None:
    with stack.http() as http:
        service = stack.create_service(http)
        flow = stack.create_flex_flow(http, service)
        good = stack.sms_params(flow["contact_identity"], new_phone(), "x")
        cases = {
            "From": {k: v for k, v in good.items() if k != "From"},
            "MessageSid": {k: v for k, v in good.items() if k != "MessageSid"},
            "NumMedia": dict(good, NumMedia="two"),
            "MediaUrl0": dict(good, NumMedia="1"),
            "Body": dict(good, Body=""),
        }
        for parameter, params in cases.items():
            response = stack.post_webhook(http, params)
            assert response.status_code == 400, (parameter, response.text)
            assert parameter in response.json()["message"], (parameter, response.text)
        assert channels_of(http, service) == []


def test_unmatched_address_is_a_counted_404(stack: Stack) -> None:
    def rejected() -> float:
        value = REGISTRY.get_sample_value(
            "switchboard_webhook_rejected_total", {"provider": "twilio", "reason": "unmatched"}
        )
        return value or 0.0

    before = rejected()
    with stack.http() as http:
        nobody = new_phone()
        response = stack.post_webhook(http, stack.sms_params(nobody, new_phone(), "anyone?"))
        assert response.status_code == 404 and nobody in response.json()["message"]
        # A disabled flow does not match either.
        service = stack.create_service(http)
        flow = stack.create_flex_flow(http, service, Enabled="false")
        disabled = stack.post_webhook(http, stack.sms_params(flow["contact_identity"], new_phone(), "x"))
        assert disabled.status_code == 404
    assert rejected() == before + 2


def test_whatsapp_matches_the_whatsapp_flow_with_profile(stack: Stack) -> None:
    with stack.http() as http:
        service = stack.create_service(http)
        number = new_phone()
        sms_flow = stack.create_flex_flow(http, service, ContactIdentity=number)
        wa_flow = stack.create_flex_flow(http, service, ChannelType="whatsapp", ContactIdentity=f"whatsapp:{number}")
        customer = new_phone()
        params = stack.sms_params(f"whatsapp:{number}", f"whatsapp:{customer}", "hola")
        params.update(ProfileName="Ana", WaId=customer.lstrip("+"))
        assert stack.post_webhook(http, params).status_code == 200
        channel = only_channel(http, service)
        assert json.loads(channel["attributes"])["channel_type"] == "whatsapp"
        message = messages_of(http, service, channel["sid"])[0]
        assert json.loads(message["attributes"]) == {"ProfileName": "Ana", "WaId": customer.lstrip("+")}
        assert sms_flow["sid"] != wa_flow["sid"]


def test_media_metadata_is_kept(stack: Stack) -> None:
    with stack.http() as http:
        service = stack.create_service(http)
        flow = stack.create_flex_flow(http, service)
        params = stack.sms_params(flow["contact_identity"], new_phone(), "")
        params.update(NumMedia="1", MediaUrl0="https://media.example/1.jpg", MediaContentType0="image/jpeg")
        assert stack.post_webhook(http, params).status_code == 200
        message = messages_of(http, service, only_channel(http, service)["sid"])[0]
        assert message["type"] == "media" and message["body"] is None
        assert message["media"] == [{"content_type": "image/jpeg", "url": "https://media.example/1.jpg"}]


def test_signature_uses_the_public_url_behind_a_proxy(make_stack: StackFactory) -> None:
    proxied = make_stack(public_url="https://switchboard.example.com")
    with proxied.http() as http:
        service = proxied.create_service(http)
        flow = proxied.create_flex_flow(http, service)
        params = proxied.sms_params(flow["contact_identity"], new_phone(), "via proxy")
        public = "https://switchboard.example.com/webhooks/twilio/messaging"
        local = f"{proxied.url}/webhooks/twilio/messaging"
        ok = http.post(local, data=params, headers={"X-Twilio-Signature": proxied.sign(public, params)})
        assert ok.status_code == 200, ok.text
        params2 = proxied.sms_params(flow["contact_identity"], new_phone(), "signed for the wrong URL")
        wrong = http.post(local, data=params2, headers={"X-Twilio-Signature": proxied.sign(local, params2)})
        assert wrong.status_code == 403


def test_webhook_answers_5xx_when_temporal_cannot_take_the_message(make_stack: StackFactory, tmp_path: Path) -> None:
    """Nothing durable, no 2xx: with Temporal gone the provider is told to retry."""
    server = start_dev_server(tmp_path / "t.db", port=free_port(), ui_port=None, log_file=tmp_path / "t.log")
    try:
        asyncio.run(wait_until_ready(server))
        doomed = make_stack(temporal_address=server.address)
        with doomed.http() as http:
            service = doomed.create_service(http)
            flow = doomed.create_flex_flow(http, service)
            server.stop()
            params = doomed.sms_params(flow["contact_identity"], new_phone(), "into the void")
            response = doomed.post_webhook(http, params)
            assert response.status_code == 503, response.text
            assert response.json()["message"].endswith("retry")
            assert channels_of(http, service) == []
    finally:
        server.stop()


def test_a_plus_lost_to_form_encoding_is_put_back(stack: Stack) -> None:
    """``curl -d From=+1555...`` posts the "+" as a space: the customer's address is still E.164,
    so the channel and its replies reach the customer's number; other stray whitespace is refused."""
    with stack.http() as http:
        service = stack.create_service(http)
        flow = stack.create_flex_flow(http, service)
        number, customer = flow["contact_identity"], new_phone()
        params = stack.sms_params(" " + number.removeprefix("+"), " " + customer.removeprefix("+"), "typed by hand")
        assert stack.post_webhook(http, params).status_code == 200
        channel = only_channel(http, service)
        assert json.loads(channel["attributes"])["from"] == customer
        assert [m["from"] for m in messages_of(http, service, channel["sid"])] == [customer]
        refused = stack.post_webhook(http, stack.sms_params(number, f"{customer} ", "trailing space"))
        assert refused.status_code == 400 and "From" in refused.json()["message"]
