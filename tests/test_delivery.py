"""Agents' messages reach the customer through the provider, end to end: an SMS or WhatsApp comes
in through the signed webhook, the default Messaging Flow hands it to an agent, the agent answers
over the socket, the fake provider (a real HTTP server standing in for Twilio) receives exactly
the Messages API call, reports the message's progress to the status webhook, and the agent sees it
delivered. Retried 429/500 answers send once; a 400 shows as failed; bad signatures are refused."""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine
from sqlalchemy import text as sql
from twilio.request_validator import RequestValidator

from switchboard.fake_provider import FakeTwilio, ScriptedError
from switchboard.store.defaults import plan_flex_defaults
from tests.helpers.flows import web_flow, whatsapp_flow
from tests.helpers.messages import age_messages, text
from tests.helpers.sockets import agent_answers, as_agent, command, event, frame, refused, sign_in
from tests.helpers.stack import Stack, StackFactory, clear_the_floor, eventually, new_phone

# The store's tests: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.store_backends


@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
def test_an_agents_answer_reaches_the_provider_and_comes_back_delivered(
    sending: Stack, fake_twilio: FakeTwilio, channel: str
) -> None:
    number = sending.settings.flex_sms_number if channel == "sms" else whatsapp_flow(sending)
    customer = new_phone() if channel == "sms" else "whatsapp:" + new_phone()
    reply = f"It ships today ({channel})"
    statuses = agent_answers(sending, f"kim-{channel}", number, customer, reply)
    assert [s["status"] for s in statuses] == ["queued", "sent", "delivered"]
    assert statuses[-1]["index"] == statuses[-1]["index_sent"] and statuses[-1]["error_code"] is None

    [request] = [r for r in fake_twilio.message_requests() if r.field("Body") == reply]
    assert request.path == f"/2010-04-01/Accounts/{fake_twilio.account_sid}/Messages.json"
    assert request.field("From") == number and request.field("To") == customer
    assert request.field("StatusCallback") == f"{sending.url}/webhooks/twilio/status/{statuses[0]['sid']}"
    assert request.headers["I-Twilio-Idempotency-Token"] == statuses[0]["sid"]
    # Every callback was accepted by the signed status webhook (the fake records the answer a
    # moment after the agent may already have seen its effect).

    def answered() -> None:
        assert [code for status, params, code in fake_twilio.callbacks if params["To"] == customer] == [204, 204]

    eventually(answered)


def test_throttling_and_server_errors_are_retried_and_the_message_is_sent_once(
    sending: Stack, fake_twilio: FakeTwilio
) -> None:
    fake_twilio.fail_next(
        ScriptedError(429, 20429, "Too Many Requests"), ScriptedError(500, 20500, "Internal Server Error")
    )
    customer = new_phone()
    statuses = agent_answers(sending, "lou", sending.settings.flex_sms_number, customer, "Sorry for the wait")
    assert statuses[-1]["status"] == "delivered"
    attempts = [r for r in fake_twilio.message_requests() if r.field("To") == customer]
    assert len(attempts) == 3
    assert {r.headers["I-Twilio-Idempotency-Token"] for r in attempts} == {statuses[0]["sid"]}
    assert [m["body"] for m in fake_twilio.messages_sent() if m["to"] == customer] == ["Sorry for the wait"]


def test_a_refused_message_shows_as_failed_with_the_providers_error(sending: Stack, fake_twilio: FakeTwilio) -> None:
    fake_twilio.fail_next(ScriptedError(400, 21211, "The 'To' number is not a valid phone number."))
    customer = new_phone()
    statuses = agent_answers(sending, "max", sending.settings.flex_sms_number, customer, "Hello?")
    assert statuses == [
        {
            "channel_sid": statuses[0]["channel_sid"],
            "sid": statuses[0]["sid"],
            "index": statuses[0]["index_sent"],
            "status": "failed",
            "error_code": 21211,
            "error_message": "The 'To' number is not a valid phone number.",
            "index_sent": statuses[0]["index_sent"],
        }
    ]
    assert [m for m in fake_twilio.messages_sent() if m["to"] == customer] == []


def test_status_callbacks_must_be_signed_and_never_move_a_message_back(sending: Stack, fake_twilio: FakeTwilio) -> None:
    customer = new_phone()
    statuses = agent_answers(sending, "ned", sending.settings.flex_sms_number, customer, "Delivered?")
    assert statuses[-1]["status"] == "delivered"
    [sent] = [m for m in fake_twilio.messages_sent() if m["to"] == customer]
    # The URL messages sent before callbacks named their message, found by the provider's SID.
    url = f"{sending.url}/webhooks/twilio/status"
    late = {"MessageSid": sent["sid"], "MessageStatus": "sent"}

    def post(params: dict[str, str], signature: str) -> httpx.Response:
        return httpx.post(url, data=params, headers={"X-Twilio-Signature": signature})

    validator = RequestValidator(fake_twilio.auth_token)
    assert post(late, "forged").status_code == 403
    assert post(late, validator.compute_signature(url, late)).status_code == 204
    unknown = {"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered"}
    assert post(unknown, validator.compute_signature(url, unknown)).status_code == 204
    bad = {"MessageSid": sent["sid"], "MessageStatus": "teleported"}
    refused = post(bad, validator.compute_signature(url, bad))
    assert refused.status_code == 400 and "MessageStatus" in refused.json()["message"]

    assert stored_status(sending, statuses[0]["sid"]) == "delivered"  # the late "sent" moved nothing
    read = {"MessageSid": sent["sid"], "MessageStatus": "read"}
    assert post(read, validator.compute_signature(url, read)).status_code == 204
    assert stored_status(sending, statuses[0]["sid"]) == "read"


def stored_delivery(stack: Stack, message_sid: str, column: str) -> str:
    engine = create_engine(stack.settings.resolved_database_url.replace("+aiosqlite", ""))
    try:
        with engine.connect() as conn:
            value = conn.execute(
                sql(f"SELECT {column} FROM message_delivery WHERE message_sid = :sid"), {"sid": message_sid}
            ).scalar_one()
    finally:
        engine.dispose()
    return str(value)


def stored_status(stack: Stack, message_sid: str) -> str:
    return stored_delivery(stack, message_sid, "status")


def stored_provider_sid(stack: Stack, message_sid: str) -> str:
    return stored_delivery(stack, message_sid, "provider_sid")


def test_whatsapp_takes_only_a_template_after_24_hours(sending: Stack, fake_twilio: FakeTwilio) -> None:
    number, customer = whatsapp_flow(sending), "whatsapp:" + new_phone()
    clear_the_floor(sending)
    token = sign_in(sending, "uma")["token"]

    async def work() -> str:
        async with as_agent(sending, token) as desk:
            await frame(desk, lambda f: f["type"] == "ready")
            await command(desk, "a0", "set_activity", activity="Available")
            with sending.http() as http:
                await asyncio.to_thread(text, sending, http, number, customer, "hello")
            offered = await frame(desk, event("reservation.created"))
            channel = offered["channel_sid"]
            await command(desk, "a1", "accept", reservation_sid=offered["data"]["reservation_sid"])
            await command(desk, "a2", "send_message", channel_sid=channel, body="Hi! Within the window.", key="w")
            await asyncio.to_thread(age_messages, sending, channel, timedelta(hours=25))
            late = await refused(desk, "a3", "send_message", channel_sid=channel, body="Still there?", key="x")
            assert late["code"] == 409 and "24-hour window" in late["message"] and "template" in late["message"]
            template = {"name": "HXb5b62575e6e4ff6129ad7c8efe1f983e", "language": "en", "variables": ["Ana", "1234"]}
            sent = await command(desk, "a4", "send_message", channel_sid=channel, template=template, key="t")
            while (await frame(desk, event("message.status", sid=sent["sid"])))["data"]["status"] != "delivered":
                pass
            return str(sent["sid"])

    message_sid = asyncio.run(work())
    [request] = [
        r for r in fake_twilio.message_requests() if r.headers.get("I-Twilio-Idempotency-Token") == message_sid
    ]
    assert request.field("ContentSid") == "HXb5b62575e6e4ff6129ad7c8efe1f983e"
    assert json.loads(request.field("ContentVariables") or "") == {"1": "Ana", "2": "1234"}
    assert request.field("Body") is None and request.field("To") == customer
    assert [r.field("Body") for r in fake_twilio.message_requests() if r.field("To") == customer] == [
        "Hi! Within the window.",
        None,
    ]


def test_an_agents_image_goes_out_as_a_signed_media_link(sending: Stack, fake_twilio: FakeTwilio) -> None:
    customer = new_phone()
    clear_the_floor(sending)
    token = sign_in(sending, "vic")["token"]
    png = bytes.fromhex("89504e470d0a1a0a") + b"fake image"

    async def work() -> str:
        async with as_agent(sending, token) as desk:
            await frame(desk, lambda f: f["type"] == "ready")
            await command(desk, "a0", "set_activity", activity="Available")
            with sending.http() as http:
                await asyncio.to_thread(text, sending, http, sending.settings.flex_sms_number, customer, "photo?")
            offered = await frame(desk, event("reservation.created"))
            channel = offered["channel_sid"]
            await command(desk, "a1", "accept", reservation_sid=offered["data"]["reservation_sid"])
            upload = await asyncio.to_thread(
                httpx.post,
                f"{sending.url}/v1/Media",
                headers={"Authorization": f"Bearer {token}"},
                data={"channel_sid": channel},
                files={"file": ("label.png", png, "image/png")},
            )
            assert upload.status_code == 201, upload.text
            sent = await command(
                desk, "a2", "send_message", channel_sid=channel, body="Here it is", media=[upload.json()["sid"]]
            )
            while (await frame(desk, event("message.status", sid=sent["sid"])))["data"]["status"] != "delivered":
                pass
            return str(sent["sid"])

    message_sid = asyncio.run(work())
    [request] = [
        r for r in fake_twilio.message_requests() if r.headers.get("I-Twilio-Idempotency-Token") == message_sid
    ]
    [link] = request.form["MediaUrl"]
    assert link.startswith(f"{sending.url}/v1/Media/ME") and "Signature=" in link
    fetched = httpx.get(link)  # no token: the signature is the permission
    assert fetched.status_code == 200 and fetched.content == png
    tampered = link.replace("Signature=", "Signature=0")
    assert httpx.get(tampered).status_code == 403
    assert httpx.get(link.split("?")[0]).status_code == 401


def test_a_conversation_the_business_starts_over_rest_reaches_the_customer(
    sending: Stack, fake_twilio: FakeTwilio
) -> None:
    """Outbound-initiated: a Flex v1 channel to the customer's address, a message posted to it;
    the customer's answer lands on the same channel."""
    customer = new_phone()
    client = sending.twilio()
    sms_flow = plan_flex_defaults(sending.settings).defaults.sms_flex_flow_sid
    channel = client.flex_api.v1.channel.create(
        flex_flow_sid=sms_flow,
        identity=customer,
        target=customer,
        chat_user_friendly_name="Ana",
        chat_friendly_name="Order 1234",
    )
    service = plan_flex_defaults(sending.settings).defaults.chat_service_sid
    with sending.http() as http:
        posted = http.post(
            f"/v2/Services/{service}/Channels/{channel.sid}/Messages",
            data={"From": "dispatch", "Body": "Your order 1234 is ready for pickup."},
        )
        assert posted.status_code == 201, posted.text

        def sent() -> None:
            [request] = [r for r in fake_twilio.message_requests() if r.field("To") == customer]
            assert request.field("From") == sending.settings.flex_sms_number
            assert request.field("Body") == "Your order 1234 is ready for pickup."

        eventually(sent)
        text(sending, http, sending.settings.flex_sms_number, customer, "Thanks, on my way")
        answer = eventually(lambda: only_new(http, service, channel.sid))
        assert answer == [("dispatch", "Your order 1234 is ready for pickup."), (customer, "Thanks, on my way")]


def only_new(http: httpx.Client, service: str, channel_sid: str) -> list[tuple[str, str]]:
    messages = http.get(f"/v2/Services/{service}/Channels/{channel_sid}/Messages").json()["messages"]
    assert len(messages) == 2, messages
    return [(m["from"], m["body"]) for m in messages]


def test_an_agent_starts_a_conversation_and_the_customers_reply_comes_back_to_them(
    sending: Stack, fake_twilio: FakeTwilio
) -> None:
    customer = new_phone()
    clear_the_floor(sending)
    token = sign_in(sending, "wes")["token"]
    sms_flow = plan_flex_defaults(sending.settings).defaults.sms_flex_flow_sid

    async def work() -> tuple[str, str]:
        async with as_agent(sending, token) as desk:
            await frame(desk, lambda f: f["type"] == "ready")
            await command(desk, "a0", "set_activity", activity="Available")
            started = await command(
                desk,
                "a1",
                "start_conversation",
                flex_flow_sid=sms_flow,
                to=customer,
                customer_name="Ana",
                body="Hi Ana, it's Wes.",
            )
            assert started["task_sid"] and started["message_sid"]
            offered = await frame(desk, event("reservation.created", task_sid=started["task_sid"]))
            attributes = offered["data"]["task_attributes"]
            assert attributes["direction"] == "outbound" and attributes["name"] == "Ana"
            await command(desk, "a2", "accept", reservation_sid=offered["data"]["reservation_sid"])
            with sending.http() as http:
                await asyncio.to_thread(text, sending, http, sending.settings.flex_sms_number, customer, "Hi Wes!")
            reply = await frame(desk, event("message", body="Hi Wes!"))
            assert reply["channel_sid"] == started["channel_sid"]
            web = await refused(desk, "a3", "start_conversation", flex_flow_sid=web_flow(sending), to="x")
            assert web["code"] == 400 and "web" in web["message"]
            return str(started["channel_sid"]), str(started["task_sid"])

    channel_sid, task_sid = asyncio.run(work())
    [request] = [r for r in fake_twilio.message_requests() if r.field("To") == customer]
    assert request.field("Body") == "Hi Ana, it's Wes." and request.field("From") == sending.settings.flex_sms_number
    # The reply went to the agent's task: no flow ran, no second task was made.
    workspace = sending.twilio().taskrouter.v1.workspaces(plan_flex_defaults(sending.settings).defaults.workspace_sid)
    tasks = [t for t in workspace.tasks.list() if json.loads(t.attributes).get("channelSid") == channel_sid]
    assert [t.sid for t in tasks] == [task_sid]


def test_with_creation_on_message_the_task_waits_for_the_customer(sending: Stack, fake_twilio: FakeTwilio) -> None:
    customer = new_phone()
    clear_the_floor(sending)
    token = sign_in(sending, "xia")["token"]
    defaults = plan_flex_defaults(sending.settings).defaults
    with sending.http() as http:
        flow = sending.create_flex_flow(
            http,
            defaults.chat_service_sid,
            IntegrationType="studio",
            **{"Integration.FlowSid": defaults.studio_flow_sid, "Integration.CreationOnMessage": "true"},
        )

    async def work() -> None:
        async with as_agent(sending, token) as desk:
            await frame(desk, lambda f: f["type"] == "ready")
            await command(desk, "a0", "set_activity", activity="Available")
            started = await command(
                desk, "a1", "start_conversation", flex_flow_sid=flow["sid"], to=customer, body="Your table is ready."
            )
            assert started["task_sid"] is None
            with sending.http() as http:
                await asyncio.to_thread(text, sending, http, flow["contact_identity"], customer, "Coming!")
            offered = await frame(desk, event("reservation.created"))
            assert offered["channel_sid"] == started["channel_sid"]

    asyncio.run(work())


def test_an_sms_customers_photo_is_fetched_from_twilio_for_the_agent(sending: Stack, fake_twilio: FakeTwilio) -> None:
    customer = new_phone()
    clear_the_floor(sending)
    token = sign_in(sending, "yan")["token"]
    photo = bytes.fromhex("ffd8ffe0") + b"a dented box"
    media_url = fake_twilio.keep_media(
        f"/2010-04-01/Accounts/{fake_twilio.account_sid}/Messages/MM{secrets.token_hex(16)}/Media/ME1",
        "image/jpeg",
        photo,
    )

    async def work() -> dict[str, Any]:
        async with as_agent(sending, token) as desk:
            await frame(desk, lambda f: f["type"] == "ready")
            await command(desk, "a0", "set_activity", activity="Available")
            params = sending.sms_params(sending.settings.flex_sms_number, customer, "see the box")
            params.update(NumMedia="1", MediaUrl0=media_url, MediaContentType0="image/jpeg")
            with sending.http() as http:
                response = await asyncio.to_thread(sending.post_webhook, http, params)
                assert response.status_code == 200
            offered = await frame(desk, event("reservation.created"))
            await command(desk, "a1", "accept", reservation_sid=offered["data"]["reservation_sid"])
            history = await command(desk, "a2", "history", channel_sid=offered["channel_sid"])
            [media] = history["messages"][0]["media"]
            return dict(media)

    media = asyncio.run(work())
    assert media["provider_url"] == media_url and media["url"].startswith("/v1/Messages/IM")
    fetched = httpx.get(sending.url + media["url"], headers={"Authorization": f"Bearer {token}"})
    assert fetched.status_code == 200 and fetched.content == photo
    assert fetched.headers["content-type"] == "image/jpeg" and fetched.headers["x-content-type-options"] == "nosniff"
    stranger = sign_in(sending, "zed")["token"]  # an agent who never had this conversation
    assert httpx.get(sending.url + media["url"], headers={"Authorization": f"Bearer {stranger}"}).status_code == 403
    assert httpx.get(sending.url + media["url"]).status_code == 401


def test_the_fake_twilio_plays_a_customer_texting_in(sending: Stack, fake_twilio: FakeTwilio) -> None:
    """For demos: ``POST /customer/sms`` reaches Switchboard as Twilio's signed webhook would."""
    fake_twilio.messaging_webhook = f"{sending.url}/webhooks/twilio/messaging"
    fake_twilio.business_number = sending.settings.flex_sms_number
    customer = new_phone()
    texted = httpx.post(f"{fake_twilio.url}/customer/sms", data={"From": customer, "Body": "demo hello"})
    assert texted.status_code == 200 and texted.json()["switchboard_status"] == 200
    service = plan_flex_defaults(sending.settings).defaults.chat_service_sid

    def stored() -> None:
        with sending.http() as http:
            channels = http.get(f"/v2/Services/{service}/Channels", params={"PageSize": 1000}).json()["channels"]
            bodies = [
                (m["from"], m["body"])
                for c in channels
                for m in http.get(f"/v2/Services/{service}/Channels/{c['sid']}/Messages").json()["messages"]
            ]
        assert (customer, "demo hello") in bodies

    eventually(stored)
    assert httpx.post(f"{fake_twilio.url}/customer/sms", data={"From": customer}).status_code == 400


def test_a_provider_answering_too_late_still_gets_the_message_once(
    make_stack: StackFactory, fake_twilio: FakeTwilio
) -> None:
    """The first call times out while the provider takes the message. Its status callbacks name
    Switchboard's message, so they land anyway; a retry (when it comes before them) carries the
    same idempotency token and gets the message already taken. The customer gets one text."""
    impatient = make_stack(
        desk_dev_sign_in=True,
        twilio_auth_token=fake_twilio.auth_token,
        twilio_account_sid=fake_twilio.account_sid,
        twilio_api_url=fake_twilio.url,
        provider_timeout_seconds=1.0,
    )
    customer = new_phone()
    fake_twilio.answer_late(3.0)
    statuses = agent_answers(impatient, "ned", impatient.settings.flex_sms_number, customer, "On its way")
    assert statuses[-1]["status"] == "delivered"
    attempts = [r for r in fake_twilio.message_requests() if r.field("To") == customer]
    assert {r.headers["I-Twilio-Idempotency-Token"] for r in attempts} == {statuses[0]["sid"]}
    assert [m["body"] for m in fake_twilio.messages_sent() if m["to"] == customer] == ["On its way"]
    assert stored_provider_sid(impatient, statuses[0]["sid"]) == fake_twilio.messages_sent()[-1]["sid"]
