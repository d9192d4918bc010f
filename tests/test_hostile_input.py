"""Hostile input over real HTTP and WebSockets: oversized request bodies refused before they are
read (declared or streamed), message bodies over Programmable Chat's 32 KiB refused wherever
messages enter, oversized WebSocket frames closing the socket, and rate limits on opening web
chats per address and per access token (in memory, and shared by two API processes through
Redis), each answered in Twilio's error shape with ``Retry-After``."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from websockets.exceptions import ConnectionClosed

from api.webhooks.custom import signature_for
from devstack import DevServer
from store.defaults import plan_flex_defaults
from tests.conftest import POSTGRES_ADMIN_URL, Stack, StackFactory, new_phone, test_settings
from tests.test_agent_socket import answering, command, frame
from tests.test_webchat import as_customer, open_session, refused, web_flow

SMALL = 64 * 1024
OVER_32_KIB = "é" * 16385  # 32,770 bytes of UTF-8 in fewer than 32,768 characters
AT_32_KIB = "é" * 16384  # 32,768 bytes: the most a body may weigh
CUSTOM_SECRET = secrets.token_hex(16)
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="module")
def limited(make_stack: StackFactory) -> Stack:
    return make_stack(request_max_bytes=SMALL, websocket_max_bytes=SMALL, media_max_bytes=4096)


@pytest.fixture(scope="module")
def plain(make_stack: StackFactory) -> Stack:
    return make_stack(custom_webhook_secret=CUSTOM_SECRET, meta_app_secret=secrets.token_hex(16))


def basic(stack: Stack) -> str:
    return base64.b64encode(f"{stack.settings.account_sid}:{stack.settings.auth_token}".encode()).decode()


def assert_twilio_error(response: httpx.Response, status: int, code: int, *words: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["code"] == code, body
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    for word in words:
        assert word in body["message"], body
    return body


def test_a_declared_oversized_body_is_refused_before_it_is_read(limited: Stack) -> None:
    """Headers promising 100 MB and not one byte of body: the answer comes at once."""
    port = limited.settings.api_port
    for path in ("/v2/Services", "/v1/Media", "/webhooks/twilio/messaging"):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            head = (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Basic {basic(limited)}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000000\r\n\r\n"
            )
            conn.sendall(head.encode())
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                answer += chunk
        status_line, _, rest = answer.partition(b"\r\n")
        assert status_line.startswith(b"HTTP/1.1 413"), answer[:200]
        body = json.loads(rest.partition(b"\r\n\r\n")[2])
        limit = SMALL if path != "/v1/Media" else 4096 + 64 * 1024
        assert body["code"] == 20413 and f"at most {limit} bytes" in body["message"], body


def chunks(total: int, size: int = 16 * 1024) -> Iterator[bytes]:
    yield b"FriendlyName=streamed&Attributes="
    sent = 0
    while sent < total:
        yield b"x" * size
        sent += size


def test_a_streamed_body_is_cut_off_at_the_limit(limited: Stack) -> None:
    with limited.http() as http:
        # No Content-Length (chunked): counted as it arrives.
        over = http.post(
            "/v2/Services", content=chunks(SMALL * 4), headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert "content-length" not in over.request.headers
        assert_twilio_error(over, 413, 20413, f"at most {SMALL} bytes")
        under = http.post(
            "/v2/Services",
            content=iter([b"FriendlyName=", b"streamed"]),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert under.status_code == 201 and under.json()["friendly_name"] == "streamed"
        # A webhook reading its raw body is cut off the same way.
        raw = http.post("/webhooks/custom/FO" + "0" * 32, content=chunks(SMALL * 2))
        assert_twilio_error(raw, 413, 20413)


def test_an_oversized_websocket_frame_closes_the_socket(limited: Stack) -> None:
    session = open_session(limited)

    async def scenario() -> None:
        async with as_customer(limited, session["token"]) as ws:
            await frame(ws, lambda f: f["type"] == "ready")
            await command(ws, "c1", "typing", padding="x" * (SMALL // 2))  # fits
            await ws.send(json.dumps({"type": "command", "id": "c2", "command": "typing", "padding": "x" * SMALL}))
            with pytest.raises(ConnectionClosed) as closed:
                await frame(ws, answering("c2"))
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # message too big

    asyncio.run(scenario())


def test_message_bodies_over_32_kib_are_refused_wherever_they_enter(plain: Stack) -> None:
    with plain.http() as http:
        service = plain.create_service(http)
        channel = http.post(f"/v2/Services/{service}/Channels", data={"FriendlyName": "long"}).json()["sid"]
        messages = f"/v2/Services/{service}/Channels/{channel}/Messages"
        assert http.post(messages, data={"Body": AT_32_KIB}).status_code == 201
        assert_twilio_error(http.post(messages, data={"Body": OVER_32_KIB}), 400, 50504, "Body", "32768 bytes")

        # Twilio's webhook (signed, so only Twilio could send it; still refused, and not retried).
        sms = plain.create_flex_flow(http, service)
        params = plain.sms_params(sms["contact_identity"], new_phone(), OVER_32_KIB)
        assert_twilio_error(plain.post_webhook(http, params), 400, 50504, "32768 bytes")

        # A custom channel's webhook.
        custom = plain.create_flex_flow(http, service, ChannelType="custom", ContactIdentity="kiosk-" + new_phone())
        raw = json.dumps({"id": "m-1", "from": "visitor", "body": OVER_32_KIB}).encode()
        stamp = str(int(time.time()))
        forged_long = http.post(
            f"/webhooks/custom/{custom['sid']}",
            content=raw,
            headers={
                "Content-Type": "application/json",
                "X-Switchboard-Timestamp": stamp,
                "X-Switchboard-Signature": signature_for(CUSTOM_SECRET, stamp, raw),
            },
        )
        assert_twilio_error(forged_long, 400, 50504, "body", "32768 bytes")

    # The customer's socket (the agent's shares send_to_channel).
    session = open_session(plain)

    async def scenario() -> None:
        async with as_customer(plain, session["token"]) as ws:
            await frame(ws, lambda f: f["type"] == "ready")
            too_long = await refused(ws, "c1", "send_message", body=OVER_32_KIB)
            assert too_long["code"] == 400 and "32768 bytes" in too_long["message"], too_long
            assert (await command(ws, "c2", "send_message", body=AT_32_KIB))["sid"].startswith("IM")

    asyncio.run(scenario())


def web_channel_form(stack: Stack) -> dict[str, str]:
    return {
        "FlexFlowSid": web_flow(stack),
        "Identity": "c-" + new_phone(),
        "CustomerFriendlyName": "x",
        "ChatFriendlyName": "x",
    }


def test_opening_web_chats_is_limited_per_address(make_stack: StackFactory) -> None:
    stack = make_stack(webchat_session_rate="3/minute")
    for _ in range(3):
        open_session(stack)
    with httpx.Client(base_url=stack.url) as http:
        over = http.post("/v1/Webchat/Sessions", json={"flex_flow_sid": web_flow(stack)})
    body = assert_twilio_error(over, 429, 20429, "Too Many Requests", "3 per 1 minute")
    assert 1 <= int(over.headers["Retry-After"]) <= 60, body
    # Flex WebChannels open the same kind of channel: the same address's allowance.
    with stack.http() as http:
        assert_twilio_error(http.post("/v1/WebChannels", data=web_channel_form(stack)), 429, 20429)


def test_an_access_token_is_limited_on_rest_and_on_its_socket(make_stack: StackFactory) -> None:
    stack = make_stack(token_rate="5/minute")
    session = open_session(stack)
    token = session["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=stack.url) as http:
        assert http.post("/v1/Tokens/Refresh", headers=bearer).status_code == 201  # 1

    async def scenario() -> None:
        async with as_customer(stack, token) as ws:
            await frame(ws, lambda f: f["type"] == "ready")
            for n in range(4):  # 2..5
                await command(ws, f"t{n}", "typing")
            over = await refused(ws, "t5", "typing")
            assert over["code"] == 429, over
            assert "Too Many Requests" in over["message"] and 1 <= over["retry_after"] <= 60

    asyncio.run(scenario())
    with httpx.Client(base_url=stack.url) as http:
        over = http.post("/v1/Tokens/Refresh", headers=bearer)
        assert_twilio_error(over, 429, 20429, "access token")
        assert int(over.headers["Retry-After"]) >= 1
        # Another token has its own allowance.
        other = open_session(stack)["token"]
        assert http.post("/v1/Tokens/Refresh", headers={"Authorization": f"Bearer {other}"}).status_code == 201


def test_api_replicas_count_together_through_redis(make_stack: StackFactory) -> None:
    """Two API processes of one deployment (one signing key) with the same Redis share the allowance."""
    shared = {"redis_url": REDIS_URL, "webchat_session_rate": "2/minute", "jwt_secret": secrets.token_urlsafe(32)}
    first, second = make_stack(**shared), make_stack(**shared)
    open_session(first)
    open_session(second)
    with httpx.Client(base_url=first.url) as http:
        third = http.post("/v1/Webchat/Sessions", json={"flex_flow_sid": web_flow(first)})
    assert_twilio_error(third, 429, 20429)


def test_signatures_in_any_characters_are_refused_without_a_crash(plain: Stack) -> None:
    """Header and query values outside ASCII (the fuzz run found the first) are a 403 like any
    other wrong signature, never a 500."""
    odd = "sha256=é".encode("latin-1")
    with httpx.Client(base_url=plain.url) as http:
        link = http.get("/v1/Media/ME" + "0" * 32 + "/Content", params={"Signature": "ù§U", "Expires": "9999999999"})
        assert_twilio_error(link, 403, 403, "not valid")
        for stamp in (str(int(time.time())).encode(), "²".encode("latin-1")):
            custom = http.post(
                "/webhooks/custom/FO" + "0" * 32,
                content=b"{}",
                headers=[(b"X-Switchboard-Timestamp", stamp), (b"X-Switchboard-Signature", odd)],
            )
            assert_twilio_error(custom, 403, 20403)
        meta = http.post("/webhooks/meta", content=b"{}", headers=[(b"X-Hub-Signature-256", odd)])
        assert_twilio_error(meta, 403, 20403)


def test_dates_at_the_ends_of_the_calendar_are_answered(plain: Stack) -> None:
    """Found by the fuzz run: filters reaching past year 1 or 9999 were a 500."""
    workspace = plan_flex_defaults(plain.settings).defaults.workspace_sid
    with plain.http() as http:
        events = f"/v1/Workspaces/{workspace}/Events"
        assert http.get(events, params={"Minutes": "3323122823"}).status_code == 200
        for edge in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-05:00"):
            assert_twilio_error(http.get(events, params={"StartDate": edge}), 400, 20001, "StartDate", "out of range")


def test_numbers_in_odd_digits_or_out_of_range_are_answered(plain: Stack) -> None:
    """Unicode digits ("²" is a digit to str.isdigit, not to int) and numbers past 64 bits."""
    defaults = plan_flex_defaults(plain.settings).defaults
    with plain.http() as http:
        channels = f"/v2/Services/{defaults.chat_service_sid}/Channels"
        channel = http.post(channels, data={"FriendlyName": "digits"}).json()["sid"]
        for index in ("²", "9" * 30):
            assert_twilio_error(http.get(f"{channels}/{channel}/Messages/{index}"), 404, 20404)
        revision = http.get(f"/v2/Flows/{defaults.studio_flow_sid}/Revisions/²")
        assert_twilio_error(revision, 400, 20001, "Revision")
        assert_twilio_error(http.get("/v2/Services", params={"Page": "9" * 20}), 400, 20001, "Page")


def test_a_workers_name_taken_twice_is_a_conflict(plain: Stack) -> None:
    """Found by the fuzz run: the second worker of one name was a 500 (flushed before the check)."""
    workspace = plan_flex_defaults(plain.settings).defaults.workspace_sid
    with plain.http() as http:
        workers = f"/v1/Workspaces/{workspace}/Workers"
        assert http.post(workers, data={"FriendlyName": "twice"}).status_code == 201
        assert_twilio_error(http.post(workers, data={"FriendlyName": "twice"}), 409, 50300, "already exists")


@contextlib.contextmanager
def fresh_postgres_database() -> Iterator[str]:
    name = f"switchboard_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def stack_on_postgresql(temporal: DevServer, data_dir: Path, **overrides: Any) -> Iterator[Stack]:
    """A stack on its own PostgreSQL database, stopped before the database is dropped (its
    routing work would otherwise retry against a database that is gone)."""
    with fresh_postgres_database() as url:
        settings = test_settings(data_dir, temporal_address=temporal.address, database_url=url, **overrides)
        stack = Stack(settings).start()
        try:
            yield stack
        finally:
            stack.stop()


def test_a_nul_character_is_refused_by_postgresql_as_the_clients_fault(
    temporal_server: DevServer, tmp_path: Path
) -> None:
    with stack_on_postgresql(temporal_server, tmp_path) as stack:
        workspace = plan_flex_defaults(stack.settings).defaults.workspace_sid
        with stack.http() as http:
            nul = http.post(f"/v1/Workspaces/{workspace}/Workers", data={"FriendlyName": "nul\x00name"})
            assert_twilio_error(nul, 400, 20001, "NUL")
            plain = http.post(f"/v1/Workspaces/{workspace}/Workers", data={"FriendlyName": "plain"})
            assert plain.status_code == 201
