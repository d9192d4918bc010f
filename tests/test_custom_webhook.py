"""A custom channel's inbound webhook: HMAC-signed JSON with a timestamp, stored on the contact's
channel of its custom Flex Flow once per message id; forged, stale and malformed posts refused."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import httpx
import pytest

from api.webhooks.custom import signature_for
from tests.helpers.messages import messages_of, only_channel
from tests.helpers.stack import Stack, StackFactory

# The store's tests: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.store_backends

SECRET = secrets.token_hex(16)


@pytest.fixture(scope="module")
def custom(make_stack: StackFactory) -> Stack:
    return make_stack(custom_webhook_secret=SECRET)


def send(stack: Stack, flow_sid: str, message: dict[str, Any], *, secret: str = SECRET, age: int = 0) -> httpx.Response:
    raw = json.dumps(message).encode()
    timestamp = str(int(time.time()) - age)
    headers = {
        "Content-Type": "application/json",
        "X-Switchboard-Timestamp": timestamp,
        "X-Switchboard-Signature": signature_for(secret, timestamp, raw),
    }
    return httpx.post(f"{stack.url}/webhooks/custom/{flow_sid}", content=raw, headers=headers)


def test_a_signed_message_is_stored_once_on_the_contacts_channel(custom: Stack) -> None:
    with custom.http() as http:
        service = custom.create_service(http)
        flow = custom.create_flex_flow(http, service, ChannelType="custom", ContactIdentity="kiosk-7")
        message = {
            "id": "m-1",
            "from": "visitor-42",
            "body": "Is the café open?",
            "attributes": {"kiosk": 7},
            "media": [{"url": "https://kiosk.example/photo.jpg", "content_type": "image/jpeg"}],
        }
        assert send(custom, flow["sid"], message).status_code == 204
        assert send(custom, flow["sid"], message).status_code == 204  # a retry
        assert send(custom, flow["sid"], {**message, "id": "m-2", "body": "Hello?", "media": []}).status_code == 204
        channel = only_channel(http, service, messages=2)
        stored = messages_of(http, service, channel["sid"])
        assert [(m["from"], m["body"]) for m in stored] == [
            ("visitor-42", "Is the café open?"),
            ("visitor-42", "Hello?"),
        ]
        assert json.loads(stored[0]["attributes"]) == {"kiosk": 7}
        assert stored[0]["media"] == [{"content_type": "image/jpeg", "url": "https://kiosk.example/photo.jpg"}]


def test_forged_stale_and_malformed_posts_are_refused(custom: Stack) -> None:
    with custom.http() as http:
        service = custom.create_service(http)
        flow = custom.create_flex_flow(http, service, ChannelType="custom", ContactIdentity="kiosk-8")
        sms = custom.create_flex_flow(http, service)
    good = {"id": "x", "from": "someone", "body": "hi"}
    assert send(custom, flow["sid"], good, secret="not the secret").status_code == 403
    stale = send(custom, flow["sid"], good, age=600)
    assert stale.status_code == 403 and "5 minutes" in stale.json()["message"]
    missing = send(custom, flow["sid"], {"id": "y", "body": "no sender"})
    assert missing.status_code == 400 and "from" in missing.json()["message"]
    assert send(custom, flow["sid"], {"id": "z", "from": "someone"}).status_code == 400
    assert send(custom, sms["sid"], good).status_code == 404
    # Media comes as web addresses: a provider's own media reference is not the sender's to give.
    for url in ("meta-media:42", "file:///etc/passwd", "javascript:alert(1)"):
        crafted = send(custom, flow["sid"], {**good, "id": f"m-{url[:4]}", "media": [{"url": url}]})
        assert crafted.status_code == 400 and "http" in crafted.json()["message"], crafted.text
    assert send(custom, "FO" + "0" * 32, good).status_code == 404
