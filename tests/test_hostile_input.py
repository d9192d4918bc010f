"""Hostile input over real HTTP and WebSockets: oversized request bodies refused before they are
read (declared or streamed), message bodies over Programmable Chat's 32 KiB refused wherever
messages enter, oversized WebSocket frames closing the socket, and rate limits on opening web
chats per address and per access token (in memory, and shared by two API processes through
Redis), each answered in Twilio's error shape with ``Retry-After``. Bounded resources per caller:
a socket's pending commands (a flood is cut off with 1008), the client address counted (a
forwarded one only from a trusted proxy), input nested past a parser's depth (400), and the store's
and secrets' files (the owner's alone)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import secrets
import socket
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from api.webhooks.custom import signature_for
from switchboard.devstack import DevServer
from switchboard.settings import generate_dev_secrets
from switchboard.store.db import Database, ping
from switchboard.store.defaults import plan_flex_defaults
from tests.helpers.flows import web_flow
from tests.helpers.metrics import scrape, value
from tests.helpers.sockets import Desk, answering, as_customer, command, frame, open_session, refused
from tests.helpers.stack import Stack, StackFactory, new_phone, stack_on_postgresql, test_settings

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


def post_custom(http: httpx.Client, flow_sid: str, raw: bytes) -> httpx.Response:
    """``raw`` posted to a custom channel's webhook, signed with the stack's secret."""
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Switchboard-Timestamp": stamp,
        "X-Switchboard-Signature": signature_for(CUSTOM_SECRET, stamp, raw),
    }
    return http.post(f"/webhooks/custom/{flow_sid}", content=raw, headers=headers)


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
        forged_long = post_custom(http, custom["sid"], raw)
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


# --- bounded resources per caller -------------------------------------------------------------

PENDING = 8  # the pending commands the flood stack's sockets queue


@pytest.fixture(scope="module")
def flood(make_stack: StackFactory) -> Stack:
    return make_stack(websocket_max_pending_commands=PENDING)


@contextlib.contextmanager
def store_writes_held(stack: Stack) -> Iterator[None]:
    """Hold the SQLite store's write lock: a socket command that writes waits (SQLite's busy
    timeout) while the client goes on sending, so its pending commands pile up."""
    conn = sqlite3.connect(stack.settings.data_dir / "switchboard.db", isolation_level=None, timeout=30)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield
        conn.execute("ROLLBACK")
    finally:
        conn.close()


async def flood_until_closed(ws: ClientConnection, blocked: dict[str, Any], then: dict[str, Any]) -> dict[str, Any]:
    """Send ``blocked`` (a command that waits on the store), then copies of ``then`` far past the
    bound without reading; answers the error frame that came before the close (1008)."""
    await ws.send(json.dumps({"type": "command", "id": "slow", **blocked}))
    for n in range(1, 20 * PENDING):
        await ws.send(json.dumps({"type": "command", "id": n, **then}))
    answers: list[dict[str, Any]] = []
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(60):
            while True:
                answers.append(json.loads(await ws.recv()))
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008, closed.value
    assert "pending" in closed.value.rcvd.reason
    [error] = [a for a in answers if a.get("type") == "error"]
    assert error["code"] == 429 and f"{PENDING} pending commands" in error["message"], error
    # The queue held at most PENDING commands: the one waiting on the store was taken from it
    # (or not yet), so the frame turned away is number PENDING + 1 at the earliest, PENDING + 2
    # at the latest, and nothing after the slow command was answered.
    assert error["id"] in (PENDING, PENDING + 1), error
    assert [a for a in answers if a.get("type") == "result"] == [], answers
    return error


def test_a_flood_of_socket_commands_is_cut_off_at_the_bound(flood: Stack) -> None:
    """Both sockets queue at most ``websocket_max_pending_commands`` commands behind the one
    running; one more is refused (an error frame) and the socket closed (1008)."""
    session = open_session(flood)
    agent = Desk(flood, "flooded")
    before = value(scrape(flood), "switchboard_socket_floods_total", kind="customer")

    async def scenario() -> None:
        typing = {"command": "typing"}
        async with as_customer(flood, session["token"]) as ws:
            await frame(ws, lambda f: f["type"] == "ready")
            with store_writes_held(flood):
                await flood_until_closed(ws, typing, typing)
        async with agent.connect() as ws:
            await frame(ws, lambda f: f["type"] == "ready")
            with store_writes_held(flood):
                # Going Offline is the router's store write; the directory only reads.
                await flood_until_closed(
                    ws, {"command": "set_activity", "activity": "Offline"}, {"command": "directory"}
                )
        # The socket after: a new connection works as before.
        async with as_customer(flood, session["token"]) as ws:
            await frame(ws, lambda f: f["type"] == "ready")
            await command(ws, "after", "typing")

    asyncio.run(scenario())
    assert value(scrape(flood), "switchboard_socket_floods_total", kind="customer") == before + 1
    assert value(scrape(flood), "switchboard_socket_floods_total", kind="agent") >= 1


def test_frames_that_are_not_json_objects_are_answered_in_order(flood: Stack) -> None:
    """Not JSON, nested past any parser's depth, binary: an error frame each, and the socket goes on."""
    session = open_session(flood)

    async def scenario() -> None:
        async with as_customer(flood, session["token"]) as ws:
            await frame(ws, lambda f: f["type"] == "ready")
            await ws.send("not json")
            await ws.send('{"type": "command", "id": "deep", "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
            await ws.send(b'{"type": "command", "id": "bin", "command": "typing"}')
            await ws.send(json.dumps({"type": "command", "id": "ok", "command": "typing"}))
            answers = [json.loads(await ws.recv()) for _ in range(4)]
            assert [a["type"] for a in answers] == ["error", "error", "error", "result"], answers
            assert answers[0]["code"] == 400 and "JSON" in answers[0]["message"], answers[0]
            assert answers[1]["code"] == 400 and "nested" in answers[1]["message"], answers[1]
            assert answers[2]["code"] == 400 and "text" in answers[2]["message"], answers[2]
            assert answers[3]["id"] == "ok"

    asyncio.run(scenario())


def test_a_command_the_store_cannot_answer_leaves_the_socket_working(flood: Stack) -> None:
    """A history page before an index past 64 bits crashed the command loop: every later command
    went unanswered."""
    session = open_session(flood)

    async def scenario() -> None:
        async with as_customer(flood, session["token"]) as ws:
            await frame(ws, lambda f: f["type"] == "ready")
            far = await refused(ws, "far", "history", before_index=2**70)
            assert far["code"] == 400 and "before_index" in far["message"], far
            assert (await command(ws, "next", "history"))["messages"] == []

    asyncio.run(scenario())


def test_forwarded_for_is_believed_only_from_trusted_proxies(make_stack: StackFactory) -> None:
    """A client cannot escape the per-address limit by writing X-Forwarded-For itself; behind a
    proxy the operator names, the address the proxy saw is the one counted."""
    direct = make_stack(webchat_session_rate="2/minute")
    with httpx.Client(base_url=direct.url) as http:
        rotated = [
            http.post(
                "/v1/Webchat/Sessions",
                json={"flex_flow_sid": web_flow(direct)},
                headers={"X-Forwarded-For": f"203.0.113.{n}"},
            ).status_code
            for n in range(3)
        ]
    assert rotated == [201, 201, 429]

    proxied = make_stack(webchat_session_rate="2/minute", trusted_proxies="127.0.0.1, 10.0.0.0/8")

    def open_as(forwarded_for: str) -> int:
        with httpx.Client(base_url=proxied.url) as http:
            return http.post(
                "/v1/Webchat/Sessions",
                json={"flex_flow_sid": web_flow(proxied)},
                headers={"X-Forwarded-For": forwarded_for},
            ).status_code

    # Each client behind the proxy has its own allowance...
    assert [open_as(f"203.0.113.{n}") for n in range(3)] == [201, 201, 201]
    # ...and the address counted is the rightmost one no trusted proxy wrote: what the client
    # puts on the left, and the trusted hops on the right, change nothing.
    assert [open_as(f"198.51.100.{n}, 192.0.2.7, 10.1.2.3") for n in range(3)] == [201, 201, 429]


def test_settings_name_trusted_proxies_as_addresses_or_networks() -> None:
    assert test_settings(Path("x"), trusted_proxies="127.0.0.1, ::1, 10.0.0.0/8").trusted_proxy_list == [
        "127.0.0.1",
        "::1",
        "10.0.0.0/8",
    ]
    assert test_settings(Path("x")).trusted_proxy_list == []
    assert test_settings(Path("x"), trusted_proxies="10.1.2.3/8").trusted_proxy_list == ["10.0.0.0/8"]
    for wrong in ("*", "proxy.example.com", "10.0.0.0/33"):
        with pytest.raises(ValueError, match="trusted_proxies"):
            test_settings(Path("x"), trusted_proxies=wrong)


DEEP = "[" * 100_000 + "]" * 100_000
DEEP_SHORT = "[" * 5_000 + "]" * 5_000  # within Attributes' 16 KiB, past any parser's depth


def test_deeply_nested_input_is_a_client_error(plain: Stack) -> None:
    """JSON, or a routing expression, nested deeper than its parser recurses was a 500 (RecursionError)."""
    with plain.http() as http:
        decode = http.post(
            "/codec/decode", content='{"payloads": ' + DEEP + "}", headers={"Content-Type": "application/json"}
        )
        assert_twilio_error(decode, 400, 20001, "nested")
        service = plain.create_service(http)
        channel = http.post(f"/v2/Services/{service}/Channels", data={"FriendlyName": "deep"}).json()["sid"]
        attributes = http.post(
            f"/v2/Services/{service}/Channels/{channel}/Messages", data={"Body": "hi", "Attributes": DEEP_SHORT}
        )
        assert_twilio_error(attributes, 400, 20001, "nested")
        workspace = plan_flex_defaults(plain.settings).defaults.workspace_sid
        queue = http.post(
            f"/v1/Workspaces/{workspace}/TaskQueues",
            data={"FriendlyName": "deep", "TargetWorkers": "NOT " * 1_000 + "1 == 1"},
        )
        assert_twilio_error(queue, 400, 20001, "nested")
        custom = plain.create_flex_flow(http, service, ChannelType="custom", ContactIdentity="kiosk-" + new_phone())
        raw = ('{"id": "deep", "from": "visitor", "body": "x", "attributes": ' + DEEP + "}").encode()
        webhook = post_custom(http, custom["sid"], raw)
        assert webhook.status_code == 400, webhook.text
    with httpx.Client(base_url=plain.url) as anyone:
        session = anyone.post(
            "/v1/Webchat/Sessions",
            content='{"flex_flow_sid": "x", "pre_engagement_data": ' + DEEP + "}",
            headers={"Content-Type": "application/json"},
        )
        assert 400 <= session.status_code < 500, session.text


def test_the_store_and_secrets_files_are_the_owners_alone(make_stack: StackFactory, tmp_path: Path) -> None:
    """Whatever the umask: the dev secrets file, the SQLite store with its WAL and shared-memory
    files, and a data directory the dev stack makes."""
    previous = os.umask(0o022)
    try:
        data_dir = tmp_path / "fresh" / "data"
        generate_dev_secrets(data_dir)
        stack = make_stack()
        with stack.http() as http:  # a write, so that the WAL exists
            stack.create_service(http)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / "secrets.json").stat().st_mode) == 0o600
    store = stack.settings.data_dir / "switchboard.db"
    for path in (store, store.with_name("switchboard.db-wal"), store.with_name("switchboard.db-shm")):
        assert path.exists(), path
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_an_existing_store_file_is_made_the_owners_alone(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    path.touch(mode=0o644)
    path.chmod(0o644)

    async def open_it() -> None:
        db = Database(f"sqlite+aiosqlite:///{path}")
        await ping(db.engine)
        await db.dispose()

    asyncio.run(open_it())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
