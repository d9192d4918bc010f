"""WhatsApp Cloud API and Messenger through Meta's webhooks and Graph API, end to end against a
fake Graph API on loopback: the subscription handshake, signatures, a batch with a duplicate stored
once per message, text, media and location, an agent's answer sent as the Graph API call, and
Meta's statuses shown to the agent."""

from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta
from typing import Any

import httpx
import pytest

from switchboard.fake_provider import FakeMeta, ScriptedError, meta_webhook
from switchboard.store.defaults import plan_flex_defaults
from tests.helpers.messages import age_messages
from tests.helpers.sockets import agent_answers_after, as_agent, command, event, frame, sign_in
from tests.helpers.stack import Stack, StackFactory, clear_the_floor, eventually

# The store's tests: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.store_backends

APP_SECRET = secrets.token_hex(16)
VERIFY_TOKEN = secrets.token_hex(8)
PHONE_NUMBER_ID = "1065403522" + str(secrets.randbelow(10**5)).zfill(5)
PAGE_ID = "5550" + str(secrets.randbelow(10**8)).zfill(8)


@pytest.fixture(scope="module")
def meta(make_stack: StackFactory, fake_meta: FakeMeta) -> Stack:
    stack = make_stack(
        desk_dev_sign_in=True,
        meta_access_token=fake_meta.access_token,
        meta_app_secret=APP_SECRET,
        meta_verify_token=VERIFY_TOKEN,
        meta_graph_url=fake_meta.url,
    )
    defaults = plan_flex_defaults(stack.settings).defaults
    with stack.http() as http:
        for channel_type, identity in (
            ("whatsapp", f"whatsapp:{PHONE_NUMBER_ID}"),
            ("facebook", f"messenger:{PAGE_ID}"),
        ):
            stack.create_flex_flow(
                http,
                defaults.chat_service_sid,
                ChannelType=channel_type,
                ContactIdentity=identity,
                IntegrationType="studio",
                **{"Integration.FlowSid": defaults.studio_flow_sid},
            )
    return stack


def post(stack: Stack, payload: dict[str, Any], secret: str = APP_SECRET) -> httpx.Response:
    body, headers = meta_webhook(secret, payload)
    return httpx.post(f"{stack.url}/webhooks/meta", content=body, headers=headers)


def whatsapp_batch(messages: list[dict[str, Any]], wa_id: str, name: str = "Ana") -> dict[str, Any]:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
        "messages": messages,
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": value}]}],
    }


def whatsapp_statuses(statuses: list[dict[str, Any]]) -> dict[str, Any]:
    value = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": PHONE_NUMBER_ID}, "statuses": statuses}
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": value}]}],
    }


def text_message(wa_id: str, body: str, message_id: str | None = None) -> dict[str, Any]:
    return {
        "from": wa_id,
        "id": message_id or "wamid." + secrets.token_hex(8),
        "timestamp": "1764000000",
        "type": "text",
        "text": {"body": body},
    }


def messages_from(stack: Stack, author: str, count: int) -> list[dict[str, Any]]:
    service = plan_flex_defaults(stack.settings).defaults.chat_service_sid

    def found() -> list[dict[str, Any]]:
        with stack.http() as http:
            mine = []
            for channel in http.get(f"/v2/Services/{service}/Channels", params={"PageSize": 1000}).json()["channels"]:
                messages = http.get(f"/v2/Services/{service}/Channels/{channel['sid']}/Messages").json()["messages"]
                mine += [m for m in messages if m["from"] == author]
        assert len(mine) >= count, mine
        return mine

    return eventually(found)


def test_the_subscription_handshake_and_signatures(meta: Stack) -> None:
    url = f"{meta.url}/webhooks/meta"
    ok = httpx.get(url, params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "8412"})
    assert ok.status_code == 200 and ok.text == "8412"
    wrong = httpx.get(url, params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"})
    assert wrong.status_code == 403
    forged = post(meta, whatsapp_batch([text_message("15551230000", "hi")], "15551230000"), secret="not the secret")
    assert forged.status_code == 403 and "X-Hub-Signature-256" in forged.json()["message"]
    malformed = post(meta, {"object": "whatsapp_business_account", "entry": [{"changes": [{"value": {}}]}]})
    assert malformed.status_code == 400 and "Meta webhook payload" in malformed.json()["message"]


def test_a_batch_with_a_duplicate_stores_each_message_once(meta: Stack) -> None:
    wa_id = "1555" + str(secrets.randbelow(10**7)).zfill(7)
    first = text_message(wa_id, "Hello, I need help")
    image = {
        "from": wa_id,
        "id": "wamid." + secrets.token_hex(8),
        "type": "image",
        "image": {"id": "MEDIA1", "mime_type": "image/jpeg", "caption": "the broken part"},
    }
    location = {
        "from": wa_id,
        "id": "wamid." + secrets.token_hex(8),
        "type": "location",
        "location": {"latitude": 52.52, "longitude": 13.405, "name": "Shop", "address": "Main St 1"},
    }
    batch = whatsapp_batch([first, image, location, dict(first)], wa_id)
    assert post(meta, batch).status_code == 200
    assert post(meta, batch).status_code == 200  # Meta retries a batch: nothing new
    stored = messages_from(meta, f"whatsapp:{wa_id}", 3)
    assert [m["body"] for m in stored] == ["Hello, I need help", "the broken part", "Shop, Main St 1"]
    assert stored[1]["media"] == [{"content_type": "image/jpeg", "url": "meta-media:MEDIA1"}]
    assert '"Latitude": 52.52' in stored[2]["attributes"] and '"ProfileName": "Ana"' in stored[0]["attributes"]


def test_an_agent_answers_on_whatsapp_cloud_and_sees_it_delivered(meta: Stack, fake_meta: FakeMeta) -> None:
    wa_id = "1555" + str(secrets.randbelow(10**7)).zfill(7)
    fake_meta.fail_next(ScriptedError(500, 2, "Service temporarily unavailable"))

    def customer_writes() -> None:
        assert post(meta, whatsapp_batch([text_message(wa_id, "Is my order late?")], wa_id)).status_code == 200

    def provider_reports() -> None:
        [sent] = [m for m in fake_meta.sent_messages() if m.get("to") == wa_id]
        report = whatsapp_statuses([{"id": sent["id"], "status": "delivered", "recipient_id": wa_id}])
        assert post(meta, report).status_code == 200

    statuses = agent_answers_after(meta, "olga", customer_writes, "It arrives tomorrow.", provider_reports)
    assert [s["status"] for s in statuses] == ["queued", "delivered"]
    attempts = [
        r for r in fake_meta.requests if r.path == f"/{PHONE_NUMBER_ID}/messages" and r.json().get("to") == wa_id
    ]
    assert len(attempts) == 2  # a 500, then taken
    assert attempts[-1].headers["Authorization"] == f"Bearer {fake_meta.access_token}"
    assert attempts[-1].json() == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": wa_id,
        "type": "text",
        "text": {"body": "It arrives tomorrow."},
    }
    assert len([m for m in fake_meta.sent_messages() if m.get("to") == wa_id]) == 1


def test_an_agent_answers_on_messenger(meta: Stack, fake_meta: FakeMeta) -> None:
    psid = "2400" + str(secrets.randbelow(10**8)).zfill(8)

    def customer_writes() -> None:
        event = {
            "sender": {"id": psid},
            "recipient": {"id": PAGE_ID},
            "timestamp": 1764000000000,
            "message": {"mid": "m_" + secrets.token_hex(8), "text": "Do you ship to Norway?"},
        }
        payload = {"object": "page", "entry": [{"id": PAGE_ID, "time": 1764000000000, "messaging": [event]}]}
        assert post(meta, payload).status_code == 200

    def provider_reports() -> None:
        [sent] = [m for m in fake_meta.sent_messages() if m.get("recipient", {}).get("id") == psid]
        delivery = {"sender": {"id": psid}, "recipient": {"id": PAGE_ID}, "delivery": {"mids": [sent["id"]]}}
        assert post(meta, {"object": "page", "entry": [{"id": PAGE_ID, "messaging": [delivery]}]}).status_code == 200

    statuses = agent_answers_after(meta, "pia", customer_writes, "Yes, in 3 days.", provider_reports)
    assert [s["status"] for s in statuses] == ["sent", "delivered"]
    [sent] = [m for m in fake_meta.sent_messages() if m.get("recipient", {}).get("id") == psid]
    assert sent == {
        "id": sent["id"],
        "from": PAGE_ID,
        "recipient": {"id": psid},
        "messaging_type": "RESPONSE",
        "message": {"text": "Yes, in 3 days."},
    }
    [stored] = messages_from(meta, f"messenger:{psid}", 1)
    assert stored["body"] == "Do you ship to Norway?"


def test_a_template_goes_out_as_a_whatsapp_cloud_template(meta: Stack, fake_meta: FakeMeta) -> None:
    wa_id = "1555" + str(secrets.randbelow(10**7)).zfill(7)
    clear_the_floor(meta)
    token = sign_in(meta, "quin")["token"]

    async def work() -> None:
        async with as_agent(meta, token) as desk:
            await frame(desk, lambda f: f["type"] == "ready")
            await command(desk, "a0", "set_activity", activity="Available")
            await asyncio.to_thread(post, meta, whatsapp_batch([text_message(wa_id, "hi")], wa_id))
            offered = await frame(desk, event("reservation.created"))
            await command(desk, "a1", "accept", reservation_sid=offered["data"]["reservation_sid"])
            await asyncio.to_thread(age_messages, meta, offered["channel_sid"], timedelta(days=2))
            template = {"name": "order_update", "language": "en_US", "variables": ["Ana"]}
            sent = await command(desk, "a2", "send_message", channel_sid=offered["channel_sid"], template=template)
            await frame(desk, event("message.status", sid=sent["sid"], status="queued"))

    asyncio.run(work())
    [sent] = [m for m in fake_meta.sent_messages() if m.get("to") == wa_id]
    assert sent["type"] == "template" and sent["template"] == {
        "name": "order_update",
        "language": {"code": "en_US"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}],
    }


def test_an_agents_image_goes_to_whatsapp_cloud_as_a_signed_link(meta: Stack, fake_meta: FakeMeta) -> None:
    wa_id = "1555" + str(secrets.randbelow(10**7)).zfill(7)
    clear_the_floor(meta)
    token = sign_in(meta, "ravi")["token"]
    png = bytes.fromhex("89504e470d0a1a0a") + b"receipt"

    async def work() -> None:
        async with as_agent(meta, token) as desk:
            await frame(desk, lambda f: f["type"] == "ready")
            await command(desk, "a0", "set_activity", activity="Available")
            await asyncio.to_thread(post, meta, whatsapp_batch([text_message(wa_id, "receipt please")], wa_id))
            offered = await frame(desk, event("reservation.created"))
            await command(desk, "a1", "accept", reservation_sid=offered["data"]["reservation_sid"])
            upload = await asyncio.to_thread(
                httpx.post,
                f"{meta.url}/v1/Media",
                headers={"Authorization": f"Bearer {token}"},
                data={"channel_sid": offered["channel_sid"]},
                files={"file": ("receipt.png", png, "image/png")},
            )
            assert upload.status_code == 201, upload.text
            sent = await command(
                desk,
                "a2",
                "send_message",
                channel_sid=offered["channel_sid"],
                body="Here",
                media=[upload.json()["sid"]],
            )
            await frame(desk, event("message.status", sid=sent["sid"], status="queued"))

    asyncio.run(work())
    [sent] = [m for m in fake_meta.sent_messages() if m.get("to") == wa_id]
    assert sent["type"] == "image" and sent["image"]["caption"] == "Here"
    fetched = httpx.get(sent["image"]["link"])  # Meta fetches the signed link without a token
    assert fetched.status_code == 200 and fetched.content == png


def test_a_whatsapp_customers_photo_is_fetched_from_meta_for_the_agent(meta: Stack, fake_meta: FakeMeta) -> None:
    wa_id = "1555" + str(secrets.randbelow(10**7)).zfill(7)
    media_id = str(secrets.randbelow(10**12))
    photo = bytes.fromhex("ffd8ffe0") + b"a cracked lamp"
    fake_meta.keep_meta_media(media_id, "image/jpeg", photo)
    clear_the_floor(meta)
    token = sign_in(meta, "sol")["token"]
    image = {
        "from": wa_id,
        "id": "wamid." + secrets.token_hex(8),
        "type": "image",
        "image": {"id": media_id, "mime_type": "image/jpeg"},
    }

    async def work() -> dict[str, Any]:
        async with as_agent(meta, token) as desk:
            await frame(desk, lambda f: f["type"] == "ready")
            await command(desk, "a0", "set_activity", activity="Available")
            await asyncio.to_thread(post, meta, whatsapp_batch([image], wa_id))
            offered = await frame(desk, event("reservation.created"))
            await command(desk, "a1", "accept", reservation_sid=offered["data"]["reservation_sid"])
            history = await command(desk, "a2", "history", channel_sid=offered["channel_sid"])
            [media] = history["messages"][0]["media"]
            return dict(media)

    media = asyncio.run(work())
    assert media["provider_url"] == f"meta-media:{media_id}"
    fetched = httpx.get(meta.url + media["url"], headers={"Authorization": f"Bearer {token}"})
    assert fetched.status_code == 200 and fetched.content == photo and fetched.headers["content-type"] == "image/jpeg"
