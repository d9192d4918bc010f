"""The web chat's server side end to end, with real WebSocket clients on both sides: a widget
session on the default web Flex Flow, the customer socket (sequenced events, resume, typing, read
receipts, history, end chat), the agent socket opposite it, media, token scope and refresh, the
Flex v1 WebChannels resource and the desk's dev sign-in."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine
from sqlalchemy import text as sql
from websockets.exceptions import ConnectionClosed

from api.tokens import Grants, mint_token
from switchboard.store.defaults import plan_flex_defaults
from tests.helpers.flows import web_flow
from tests.helpers.messages import text
from tests.helpers.sockets import (
    CUSTOMER_PROTOCOL,
    as_agent,
    as_customer,
    command,
    event,
    frame,
    open_session,
    refused,
    sign_in,
)
from tests.helpers.stack import Stack, StackFactory, eventually, new_phone

# The store's tests: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.store_backends

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000")  # a PNG header is enough
HOSTILE = '<img src=x onerror="alert(1)"><script>alert(2)</script>'


@pytest.fixture(scope="module")
def web(make_stack: StackFactory) -> Stack:
    return make_stack(
        desk_dev_sign_in=True,
        media_max_bytes=4096,
        channel_inactivity_seconds=300.0,
        webchat_allowed_origins="https://shop.example, https://www.shop.example",
    )


def test_a_customer_and_an_agent_converse_over_their_sockets(web: Stack) -> None:
    agent = sign_in(web, "grace")
    session = open_session(web, "Ada", email="ada@example.com", question="Where is my order?")
    channel_sid = session["channel_sid"]
    assert session["grants"]["channel_sid"] == channel_sid and session["role"] == "customer"

    async def converse() -> int:
        async with as_agent(web, agent["token"]) as desk, as_customer(web, session["token"]) as chat:
            assert chat.subprotocol == CUSTOMER_PROTOCOL
            ready = await frame(chat, lambda f: f["type"] == "ready")
            assert ready["channel"]["sid"] == channel_sid and ready["identity"] == session["identity"]
            await frame(desk, lambda f: f["type"] == "ready")
            await command(desk, "a1", "set_activity", activity="Available")

            sent = await command(chat, "c1", "send_message", body="Where is my order?", key="k-1")
            echoed = await frame(chat, event("message", sid=sent["sid"]))
            assert echoed["data"]["key"] == "k-1" and echoed["data"]["from"] == session["identity"]

            offered = await frame(desk, event("reservation.created"))
            assert offered["data"]["task_attributes"]["name"] == "Ada"
            assert offered["data"]["task_attributes"]["channelType"] == "web"
            assert offered["data"]["pre_engagement_data"] == {
                "email": "ada@example.com",
                "question": "Where is my order?",
            }
            await command(desk, "a2", "accept", reservation_sid=offered["data"]["reservation_sid"])
            info = await command(desk, "a3", "channel_info", channel_sid=channel_sid)
            assert info["customer"] == {"identity": session["identity"], "name": "Ada"}
            assert info["channel_type"] == "web" and info["task"]["assignment_status"] == "assigned"
            joined = await frame(chat, event("member.joined", identity="grace"))
            assert joined["channel_sid"] == channel_sid

            await command(desk, "a4", "typing", channel_sid=channel_sid)
            await frame(chat, event("typing", identity="grace"))
            answer = await command(desk, "a5", "send_message", channel_sid=channel_sid, body=HOSTILE, key="d-1")
            heard = await frame(chat, event("message", sid=answer["sid"]))
            assert heard["data"]["body"] == HOSTILE and heard["data"]["from"] == "grace"

            await command(chat, "c2", "typing")
            await frame(desk, event("typing", identity=session["identity"]))
            await command(chat, "c3", "mark_read", index=answer["index"])
            read = await frame(desk, event("read", identity=session["identity"]))
            assert read["data"]["index"] == answer["index"]
            await command(desk, "a6", "mark_read", channel_sid=channel_sid, index=answer["index"])
            receipt = await frame(chat, event("read", identity="grace"))
            return int(receipt["sequence"])

    last_seen = asyncio.run(converse())

    async def resume_and_end() -> None:
        async with as_agent(web, agent["token"]) as desk:
            await frame(desk, lambda f: f["type"] == "ready")
            # The customer's socket is down (a reload, a tunnel) while the agent writes twice.
            for n, body in enumerate(("Found it.", "It ships today.")):
                await command(desk, f"b{n}", "send_message", channel_sid=channel_sid, body=body, key=f"d-2{n}")
            async with as_customer(web, session["token"], resume_after=last_seen) as chat:
                ready = await frame(chat, lambda f: f["type"] == "ready")
                assert ready["sequence"] == last_seen and ready["read"] == {"grace": 1}
                first = await frame(chat, lambda f: f["type"] == "event")
                second = await frame(chat, lambda f: f["type"] == "event")
                assert [first["data"]["body"], second["data"]["body"]] == ["Found it.", "It ships today."]
                history = await command(chat, "c4", "history", limit=10)
                assert [m["body"] for m in history["messages"]] == [
                    "Where is my order?",
                    HOSTILE,
                    "Found it.",
                    "It ships today.",
                ]
                assert history["has_more"] is False
                ended = await command(chat, "c5", "end_chat")
                assert ended["task_sid"] is not None
                # The task wraps up first, then the agent hears why.
                await frame(desk, event("task.wrapup", task_sid=ended["task_sid"]))
                notice = await frame(desk, event("chat.ended", channel_sid=channel_sid))
                assert notice["data"]["by"] == "customer"
                info = await command(desk, "b9", "channel_info", channel_sid=channel_sid)
                await command(desk, "b10", "complete", reservation_sid=info["task"]["reservation_sid"])
                await frame(desk, event("task.completed"))

    asyncio.run(resume_and_end())


def test_a_customer_token_reaches_its_own_channel_and_nothing_else(web: Stack) -> None:
    mine, theirs = open_session(web, "Ann"), open_session(web, "Bea")
    assert mine["channel_sid"] != theirs["channel_sid"] and mine["identity"] != theirs["identity"]
    agent = sign_in(web, "heidi")

    async def closed_with(connection: Any) -> tuple[int, str]:
        async with connection as ws:
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await ws.recv()
            assert closed.value.rcvd is not None
            return closed.value.rcvd.code, closed.value.rcvd.reason

    # A customer token is no agent's, and an agent token is no customer's.
    code, _ = asyncio.run(closed_with(as_agent(web, mine["token"])))
    assert code == 4403
    code, reason = asyncio.run(closed_with(as_customer(web, agent["token"])))
    assert code == 4403 and "customer" in reason

    with httpx.Client(base_url=web.url) as http:
        bearer = {"Authorization": f"Bearer {mine['token']}"}
        upload = http.post(
            "/v1/Media",
            headers=bearer,
            data={"channel_sid": theirs["channel_sid"]},
            files={"file": ("a.png", PNG, "image/png")},
        )
        assert upload.status_code == 403 and theirs["channel_sid"] in upload.json()["message"]
        refreshed = http.post("/v1/Tokens/Refresh", headers=bearer)
        assert refreshed.status_code == 201, refreshed.text
        fresh = refreshed.json()
        assert fresh["grants"] == mine["grants"] and fresh["token"] != mine["token"] and fresh["ttl"] == mine["ttl"]
        assert http.post("/v1/Tokens/Refresh", headers={"Authorization": "Bearer nope"}).status_code == 401

        sms_flow = plan_flex_defaults(web.settings).defaults.sms_flex_flow_sid
        wrong = http.post("/v1/Webchat/Sessions", json={"flex_flow_sid": sms_flow})
        assert wrong.status_code == 400 and "not a web flow" in wrong.json()["message"]
        unknown = http.post("/v1/Webchat/Sessions", json={"flex_flow_sid": "FO" + "0" * 32})
        assert unknown.status_code == 400 and "does not exist" in unknown.json()["message"]
        crowded = {f"f{n}": "x" for n in range(40)}
        too_many = http.post(
            "/v1/Webchat/Sessions", json={"flex_flow_sid": web_flow(web), "pre_engagement_data": crowded}
        )
        assert too_many.status_code == 400 and "pre_engagement_data" in too_many.json()["message"]

    async def own_channel_only() -> None:
        async with as_customer(web, fresh["token"]) as chat:
            ready = await frame(chat, lambda f: f["type"] == "ready")
            assert ready["channel"]["sid"] == mine["channel_sid"]
            sent = await command(chat, "c1", "send_message", body="hi", key="x")
            await frame(chat, event("message", sid=sent["sid"]))
            # Whatever channel a command names, the customer's socket speaks for its own.
            await command(chat, "c2", "send_message", body="sneaky", channel_sid=theirs["channel_sid"], key="y")
        async with as_customer(web, theirs["token"]) as chat:
            await frame(chat, lambda f: f["type"] == "ready")
            history = await command(chat, "c3", "history")
            assert history["messages"] == []
        async with as_agent(web, agent["token"]) as desk:
            await frame(desk, lambda f: f["type"] == "ready")
            denied = await refused(desk, "a1", "history", channel_sid=mine["channel_sid"])
            assert denied["code"] == 403

    asyncio.run(own_channel_only())


def test_images_and_files_travel_within_limits(web: Stack) -> None:
    session = open_session(web, "Cy")
    channel_sid = session["channel_sid"]
    other = open_session(web, "Dee")
    with httpx.Client(base_url=web.url) as http:
        bearer = {"Authorization": f"Bearer {session['token']}"}

        def upload(name: str, content: bytes, content_type: str) -> httpx.Response:
            return http.post(
                "/v1/Media",
                headers=bearer,
                data={"channel_sid": channel_sid},
                files={"file": (name, content, content_type)},
            )

        assert upload("big.png", PNG + bytes(5000), "image/png").status_code == 413
        refused_type = upload("page.html", b"<html></html>", "text/html")
        assert refused_type.status_code == 415 and "text/html" in refused_type.json()["message"]
        assert upload("empty.txt", b"", "text/plain").status_code == 400
        image = upload("cat.png", PNG, "image/png")
        assert image.status_code == 201, image.text
        media = image.json()
        assert media["size"] == len(PNG) and media["filename"] == "cat.png" and media["sid"].startswith("ME")

        content = http.get(media["url"], headers=bearer)
        assert content.status_code == 200 and content.content == PNG
        assert content.headers["content-type"] == "image/png" and content.headers["x-content-type-options"] == "nosniff"
        outsider = http.get(media["url"], headers={"Authorization": f"Bearer {other['token']}"})
        assert outsider.status_code == 403
        assert http.get(media["url"]).status_code == 401

    async def send_it() -> None:
        async with as_customer(web, session["token"]) as chat:
            await frame(chat, lambda f: f["type"] == "ready")
            sent = await command(chat, "c1", "send_message", media=[media["sid"]], key="m")
            shown = await frame(chat, event("message", sid=sent["sid"]))
            assert shown["data"]["body"] is None
            [attached] = shown["data"]["media"]
            assert attached["sid"] == media["sid"] and attached["filename"] == "cat.png"
            assert attached["url"] == media["url"] and attached["content_type"] == "image/png"
        async with as_customer(web, other["token"]) as chat:
            await frame(chat, lambda f: f["type"] == "ready")
            # Media of another channel cannot be attached here.
            wrong = await refused(chat, "c2", "send_message", media=[media["sid"]])
            assert wrong["code"] == 400 and "was not uploaded" in wrong["message"]
            empty = await refused(chat, "c3", "send_message", body="")
            assert empty["code"] == 400
            # Approved templates are WhatsApp's.
            template = await refused(chat, "c4", "send_message", template={"name": "hello"})
            assert template["code"] == 400 and "templates are for WhatsApp" in template["message"]

    asyncio.run(send_it())


def test_web_channels_speak_flex_v1(web: Stack) -> None:
    client = web.twilio()
    created = client.flex_api.v1.web_channel.create(
        flex_flow_sid=web_flow(web),
        identity="customer-77",
        customer_friendly_name="Eve",
        chat_friendly_name="Chat with Eve",
        pre_engagement_data=json.dumps({"question": "refund?"}),
    )
    assert created.sid.startswith("CH") and created.flex_flow_sid == web_flow(web)
    again = client.flex_api.v1.web_channel.create(
        flex_flow_sid=web_flow(web), identity="customer-77", customer_friendly_name="Eve", chat_friendly_name="x"
    )
    assert again.sid == created.sid  # the same customer's open channel
    assert client.flex_api.v1.web_channel(created.sid).fetch().sid == created.sid
    assert created.sid in [c.sid for c in client.flex_api.v1.web_channel.list()]
    updated = client.flex_api.v1.web_channel(created.sid).update(
        chat_status="inactive", post_engagement_data=json.dumps({"rating": 5})
    )
    assert updated.sid == created.sid
    with web.http() as http:
        sms_flow = plan_flex_defaults(web.settings).defaults.sms_flex_flow_sid
        wrong = http.post(
            "/v1/WebChannels",
            data={"FlexFlowSid": sms_flow, "Identity": "x", "CustomerFriendlyName": "x", "ChatFriendlyName": "x"},
        )
        assert wrong.status_code == 400 and "not a web flow" in wrong.json()["message"]
        bad = http.post(f"/v1/WebChannels/{created.sid}", data={"ChatStatus": "active"})
        assert bad.status_code == 400 and "ChatStatus" in bad.json()["message"]
        assert http.get("/v1/WebChannels/CH" + "0" * 32).status_code == 404


def test_dev_sign_in_exists_only_where_it_is_turned_on(web: Stack, stack: Stack) -> None:
    first, again = sign_in(web, "ivan"), sign_in(web, "ivan")
    assert first["worker_sid"] == again["worker_sid"] and first["role"] == "agent"
    worker = web.twilio().taskrouter.v1.workspaces(first["workspace_sid"]).workers(first["worker_sid"])
    fetched = worker.fetch()
    assert fetched.friendly_name == "ivan" and fetched.activity_name == "Offline"
    capacity = {c.task_channel_unique_name: c.configured_capacity for c in worker.worker_channels.list()}
    assert capacity["chat"] == 3 and capacity["voice"] == 1
    with httpx.Client(base_url=web.url) as http:
        assert http.post("/v1/Desk/DevSignIn", json={"identity": "<b>"}).status_code == 400
    with httpx.Client(base_url=stack.url) as http:
        off = http.post("/v1/Desk/DevSignIn", json={"identity": "ivan"})
        assert off.status_code == 404 and "dev sign-in is off" in off.json()["message"]


def test_the_pages_are_served(web: Stack) -> None:
    with httpx.Client(base_url=web.url) as http:
        demo = http.get("/demo/")
        assert demo.status_code == 200 and f'data-flex-flow-sid="{web_flow(web)}"' in demo.text
        widget = http.get("/webchat/webchat.js")
        assert widget.status_code == 200 and "javascript" in widget.headers["content-type"]
        desk = http.get("/desk/")
        assert desk.status_code == 200 and "desk.js" in desk.text
        assert http.get("/").status_code == 200


def test_messages_reach_the_customer_feed_only_on_web_channels(web: Stack) -> None:
    """An SMS customer has no socket: nothing is written to a customer feed for an SMS channel,
    while a web channel's customer feed holds its messages."""
    session = open_session(web, "Flo")
    phone = new_phone()
    with web.http() as http:
        text(web, http, web.settings.flex_sms_number, phone, "hello by SMS")

        def sms_stored() -> None:
            channels = web.twilio().flex_api.v1.channel.list()
            sms = [c.sid for c in channels if c.sid != session["channel_sid"]]
            assert any(http.get(f"/v1/Channels/{sid}").json()["task_sid"] for sid in sms)

        eventually(sms_stored)

    async def send() -> None:
        async with as_customer(web, session["token"]) as chat:
            await frame(chat, lambda f: f["type"] == "ready")
            await command(chat, "c1", "send_message", body="one", key="1")

    asyncio.run(send())
    engine = create_engine(web.settings.resolved_database_url.replace("+aiosqlite", ""))
    try:

        def fed() -> None:
            with engine.connect() as conn:
                types = conn.execute(
                    sql("SELECT DISTINCT c.channel_type FROM customer_feed f JOIN channel c ON c.sid = f.channel_sid")
                ).all()
                sms_messages = conn.execute(
                    sql(
                        "SELECT count(*) FROM message m JOIN channel c ON c.sid = m.channel_sid WHERE c.channel_type = 'sms'"
                    )
                ).scalar()
            assert [row[0] for row in types] == ["web"] and sms_messages

        eventually(fed)
    finally:
        engine.dispose()


def test_a_socket_carries_on_with_a_renewed_token(web: Stack) -> None:
    session, other = open_session(web, "Gus"), open_session(web, "Hal")
    grants = Grants(
        role="customer", chat_service_sid=session["grants"]["chat"]["service_sid"], channel_sid=session["channel_sid"]
    )
    short, _ = mint_token(web.settings, session["identity"], grants, ttl=2)

    async def renewed() -> None:
        async with as_customer(web, short) as chat:
            await frame(chat, lambda f: f["type"] == "ready")
            wrong = await refused(chat, "r0", "renew", token=other["token"])
            assert wrong["code"] == 403
            answer = await command(chat, "r1", "renew", token=session["token"])
            assert answer["token_expires_at"] == session["expires_at"]
            await asyncio.sleep(3)  # past the first token's expiry
            history = await command(chat, "r2", "history")
            assert history["messages"] == []

    async def expired() -> tuple[int, str]:
        async with as_customer(web, short) as chat:
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await chat.recv()
            assert closed.value.rcvd is not None
            return closed.value.rcvd.code, closed.value.rcvd.reason

    asyncio.run(renewed())
    short, _ = mint_token(web.settings, session["identity"], grants, ttl=2)
    code, reason = asyncio.run(expired())
    assert code == 4401 and reason.startswith("20104")


def test_only_the_widget_endpoints_answer_allowed_origins(web: Stack) -> None:
    def preflight(path: str, origin: str) -> httpx.Response:
        headers = {
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        }
        return httpx.options(web.url + path, headers=headers)

    for path in ("/v1/Webchat/Sessions", "/v1/Tokens/Refresh", "/v1/Media"):
        allowed = preflight(path, "https://shop.example")
        assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == "https://shop.example"
        assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
        stranger = preflight(path, "https://evil.example")
        assert "access-control-allow-origin" not in stranger.headers
    # The account's REST API is not for pages of other origins.
    assert "access-control-allow-origin" not in preflight("/v2/Services", "https://shop.example").headers
    created = httpx.post(
        web.url + "/v1/Webchat/Sessions",
        json={"flex_flow_sid": web_flow(web)},
        headers={"Origin": "https://www.shop.example"},
    )
    assert created.status_code == 201 and created.headers["access-control-allow-origin"] == "https://www.shop.example"
