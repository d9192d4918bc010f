"""What operators see: Prometheus metrics moving with a real conversation (webhook in, routing,
an agent's answer out through the fake Twilio), queue depth read from the store, the Temporal
SDK's own metrics, JSON logs that name the channel, and sockets told to reconnect when an API
process stops."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client
from websockets.exceptions import ConnectionClosed

from api.tokens import Grants, mint_token
from switchboard.fake_provider import FakeTwilio
from switchboard.observability import CHANNEL_SID, ConversationContext, configure_logging, temporal_runtime
from tests.helpers.messages import stack_idle, text
from tests.helpers.metrics import Samples, scrape, value
from tests.helpers.sockets import agent_answers, as_agent, frame, sign_in
from tests.helpers.stack import Stack, StackFactory, clear_the_floor, eventually, free_port, new_phone, test_settings


def grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_a_conversation_moves_the_metrics(sending: Stack, fake_twilio: FakeTwilio) -> None:
    before = scrape(sending)
    statuses = agent_answers(sending, "otto", sending.settings.flex_sms_number, new_phone(), "Metrics!")
    assert statuses[-1]["status"] == "delivered"
    after = scrape(sending)

    assert grew(before, after, "switchboard_messages_in_total", channel_type="sms") == 1
    assert (
        grew(before, after, "switchboard_messages_out_total", channel_type="sms", provider="twilio", status="queued")
        == 1
    )
    assert grew(before, after, "switchboard_delivery_seconds_count", provider="twilio") == 1
    # The inbound webhook and the two status callbacks, each answered 2xx.
    assert grew(before, after, "switchboard_webhook_seconds_count", provider="twilio", status_class="2xx") == 3
    assert grew(before, after, "switchboard_reservations_total", outcome="created") == 1
    assert grew(before, after, "switchboard_reservations_total", outcome="accepted") == 1
    waits = [
        after[key] - before.get(key, 0.0)
        for key in after
        if key[0] == "switchboard_queue_wait_seconds_count" and after[key] > before.get(key, 0.0)
    ]
    assert waits == [1.0]
    # The agent's socket was counted while open, and is gone.
    assert value(after, "switchboard_socket_connections", kind="agent") == value(
        before, "switchboard_socket_connections", kind="agent"
    )


def test_a_provider_retry_of_a_stored_message_counts_once(stack: Stack) -> None:
    """Twilio retries a webhook whose answer it missed: the same MessageSid twice is one message
    in, as it is one message stored."""
    before = scrape(stack)
    with stack.http() as http:
        service = stack.create_service(http)
        flow = stack.create_flex_flow(http, service)
        params = stack.sms_params(flow["contact_identity"], new_phone(), "sent once, posted twice")
        assert stack.post_webhook(http, params).status_code == 200

        def stored() -> str:
            [channel] = http.get(f"/v2/Services/{service}/Channels").json()["channels"]
            assert channel["messages_count"] == 1
            return str(channel["sid"])

        channel_sid = eventually(stored)
        assert stack.post_webhook(http, params).status_code == 200  # the retry, after it was stored
        eventually(lambda: stack_idle(stack, channel_sid))
    assert grew(before, scrape(stack), "switchboard_messages_in_total", channel_type="sms") == 1


def test_queue_depth_counts_the_tasks_waiting_in_the_store(sending: Stack) -> None:
    clear_the_floor(sending)  # nobody available: the customer's task waits

    def depth() -> float:
        return sum(v for (name, _), v in scrape(sending).items() if name == "switchboard_queue_depth")

    waiting = depth()
    with sending.http() as http:
        text(sending, http, sending.settings.flex_sms_number, new_phone(), "Anyone there?")

    def one_more() -> None:
        assert depth() == waiting + 1

    eventually(one_more)
    clear_the_floor(sending)


def test_the_temporal_sdk_exports_its_own_metrics(tmp_path: Path, stack: Stack) -> None:
    address = f"127.0.0.1:{free_port()}"
    settings = test_settings(tmp_path, temporal_metrics_address=address)
    runtime = temporal_runtime(settings)
    assert runtime is not None and temporal_runtime(settings) is runtime  # one per process

    async def call() -> None:
        client = await Client.connect(stack.settings.temporal_address, runtime=runtime)
        await client.count_workflows()

    asyncio.run(call())
    exported = httpx.get(f"http://{address}/metrics").text
    assert "temporal_request" in exported


@pytest.fixture
def captured_json_logs() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    configure_logging(test_settings(Path("."), log_format="json"))
    output = io.StringIO()
    [handler] = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(output)
    try:
        yield output
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


def test_json_logs_name_the_channel_and_task(captured_json_logs: io.StringIO) -> None:
    log = logging.getLogger("switchboard.test")
    # A worker's line: Temporal's activity logger names the workflow, a channel's id is its SID.
    log.info("delivered", extra={"temporal_activity": {"workflow_id": "CH" + "1" * 32, "activity_type": "x"}})
    # An API line: the request named the channel.
    token = CHANNEL_SID.set("CH" + "2" * 32)
    try:
        log.warning("refused")
    finally:
        CHANNEL_SID.reset(token)
    first, second = (json.loads(line) for line in captured_json_logs.getvalue().splitlines())
    assert first["message"] == "delivered" and first["channel_sid"] == "CH" + "1" * 32
    assert first["level"] == "INFO" and first["logger"] == "switchboard.test" and "time" in first
    assert second["channel_sid"] == "CH" + "2" * 32 and second["task_sid"] is None
    assert ConversationContext().filter(logging.makeLogRecord({})) is True


def test_a_stopping_api_tells_its_sockets_to_reconnect(make_stack: StackFactory) -> None:
    leaving = make_stack(desk_dev_sign_in=True)
    token = sign_in(leaving, "uma")["token"]

    async def work() -> int:
        async with as_agent(leaving, token) as desk:
            await frame(desk, lambda f: f["type"] == "ready")
            await asyncio.to_thread(leaving.stop)
            with pytest.raises(ConnectionClosed) as closed:
                await desk.recv()
            assert closed.value.rcvd is not None
            return closed.value.rcvd.code

    # 1012, "service restart": the desk and the widget reconnect (elsewhere) and resume.
    assert asyncio.run(work()) == 1012


OPERATIONAL = ("/metrics", "/docs", "/redoc", "/openapi.json")


def test_operational_endpoints_take_an_operators_credentials(stack: Stack, make_stack: StackFactory) -> None:
    """By default /metrics and the API reference answer only the account's credentials, an API
    key (what a Prometheus scrape config's basic_auth carries) or an admin token."""
    settings = stack.settings
    admin, _ = mint_token(settings, "ops", Grants(role="admin"))
    agent, _ = mint_token(settings, "alice", Grants(role="agent"))
    with stack.http() as http:
        key = http.post(f"/2010-04-01/Accounts/{settings.account_sid}/Keys.json", data={"FriendlyName": "scraper"})
        assert key.status_code == 201, key.text
    scraper = (key.json()["sid"], key.json()["secret"])
    with httpx.Client(base_url=stack.url) as http:
        for path in OPERATIONAL:
            refused = http.get(path)
            assert refused.status_code == 401, (path, refused.text)
            assert refused.headers["www-authenticate"].startswith("Basic"), path  # a browser asks
            assert http.get(path, auth=(settings.account_sid, "wrong")).status_code == 401, path
            assert http.get(path, headers={"Authorization": f"Bearer {agent}"}).status_code == 403, path
            for credentials in ((settings.account_sid, settings.auth_token), scraper):
                assert http.get(path, auth=credentials).status_code == 200, path
            assert http.get(path, headers={"Authorization": f"Bearer {admin}"}).status_code == 200, path
        assert "switchboard_socket_connections" in http.get("/metrics", auth=scraper).text
        assert http.get("/healthz").status_code == 200  # load balancers' probe stays open

    opened = make_stack(operational_endpoints_auth=False)
    with httpx.Client(base_url=opened.url) as http:
        for path in OPERATIONAL:
            assert http.get(path).status_code == 200, path
