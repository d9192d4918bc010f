"""The channel workflow against the real dev server: inactivity close, what a message does after
it, the close/new-message race, and continue-as-new over thousands of messages."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from switchboard.devstack import temporal_binary
from tests.helpers.messages import messages_of
from tests.helpers.stack import Stack, StackFactory, eventually, new_phone
from workflows.channel import ChannelWorkflow
from workflows.messages import ChannelStatus, InboundMessage
from workflows.starter import ChannelClient

INACTIVITY = 1.0


@pytest.fixture(scope="module")
def quick(make_stack: StackFactory) -> Stack:
    """A stack whose channels close after one quiet second."""
    return make_stack(channel_inactivity_seconds=INACTIVITY)


def channels_of(http: httpx.Client, service_sid: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = http.get(f"/v2/Services/{service_sid}/Channels", params={"PageSize": "1000"}).json()[
        "channels"
    ]
    return result


def status_of(channel: dict[str, Any]) -> str:
    return str(json.loads(channel["attributes"])["status"])


def send(stack: Stack, http: httpx.Client, flow: dict[str, Any], customer: str, body: str) -> None:
    response = stack.post_webhook(http, stack.sms_params(flow["contact_identity"], customer, body))
    assert response.status_code == 200, response.text


def workflow_ids(stack: Stack, query: str) -> list[str]:
    async def list_ids(client: Client) -> list[str]:
        return [w.id async for w in client.list_workflows(query)]

    return stack.call(list_ids)


def test_channel_closes_when_quiet_and_operators_can_find_it(quick: Stack) -> None:
    with quick.http() as http:
        service = quick.create_service(http)
        flow = quick.create_flex_flow(http, service)
        send(quick, http, flow, new_phone(), "hello")

        def closed() -> dict[str, Any]:
            [channel] = channels_of(http, service)
            assert status_of(channel) == "INACTIVE"
            return channel

        channel = eventually(closed)
        sid = channel["sid"]

        def listed() -> None:
            query = f'ChannelType="sms" AND ChannelStatus="INACTIVE" AND FlexFlowSid="{flow["sid"]}"'
            assert workflow_ids(quick, query) == [sid]

        eventually(listed)
        # The same query through the `temporal` CLI, as an operator would type it.
        listing = subprocess.run(
            [
                temporal_binary(),
                "workflow",
                "list",
                "--address",
                quick.settings.temporal_address,
                "--query",
                f'ChannelType="sms" AND ChannelStatus="INACTIVE" AND ChannelSid="{sid}"',
                "--output",
                "json",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        assert [w["execution"]["workflowId"] for w in json.loads(listing.stdout)] == [sid]

        async def describe(client: Client) -> tuple[Any, str | None]:
            description = await client.get_workflow_handle(sid).describe()
            return description, await description.static_summary()

        description, summary = quick.call(describe)
        assert description.status == WorkflowExecutionStatus.COMPLETED
        assert summary == f"sms channel {sid} via {flow['sid']}"
        # No phone number in what operators see.
        assert flow["contact_identity"] not in str(description.typed_search_attributes)


def test_long_lived_channel_reopens_with_the_same_sid(quick: Stack) -> None:
    with quick.http() as http:
        service = quick.create_service(http)
        flow = quick.create_flex_flow(http, service, LongLived="true")
        customer = new_phone()
        send(quick, http, flow, customer, "first interaction")
        eventually(lambda: _assert_status(http, service, "INACTIVE"))
        send(quick, http, flow, customer, "second interaction")
        eventually(lambda: _assert_status(http, service, "ACTIVE", messages=2))
        [channel] = channels_of(http, service)
        bodies = [(m["index"], m["body"]) for m in messages_of(http, service, channel["sid"])]
        assert bodies == [(0, "first interaction"), (1, "second interaction")]
        assert json.loads(channel["attributes"])["long_lived"] is True


@pytest.mark.store_backends  # contacts and concurrent appends, on both stores
def test_short_lived_channel_hands_the_next_message_to_a_new_channel(quick: Stack) -> None:
    with quick.http() as http:
        service = quick.create_service(http)
        flow = quick.create_flex_flow(http, service)
        customer = new_phone()
        send(quick, http, flow, customer, "first interaction")
        eventually(lambda: _assert_status(http, service, "INACTIVE"))
        send(quick, http, flow, customer, "second interaction")

        def two_channels() -> list[dict[str, Any]]:
            channels = channels_of(http, service)
            assert len(channels) == 2 and all(c["messages_count"] == 1 for c in channels), channels
            return channels

        first, second = sorted(eventually(two_channels), key=lambda c: str(c["date_created"]))
        assert first["sid"] != second["sid"]
        assert [m["body"] for m in messages_of(http, service, first["sid"])] == ["first interaction"]
        assert [(m["index"], m["body"]) for m in messages_of(http, service, second["sid"])] == [
            (0, "second interaction")
        ]
        assert json.loads(second["attributes"])["from"] == customer


def _assert_status(http: httpx.Client, service: str, status: str, messages: int = 1) -> None:
    channels = channels_of(http, service)
    assert channels and all(status_of(c) == status for c in channels), channels
    assert sum(c["messages_count"] for c in channels) >= messages


RACE_ROUNDS = 200


def test_messages_racing_the_close_are_never_lost_or_duplicated(quick: Stack) -> None:
    """For 200 contacts (half on a long-lived flow), a second message and a retry of it arrive at
    spread-out moments around the inactivity close; every message must be stored exactly once,
    on the same channel (long-lived) or on the same or the next channel (short-lived)."""
    with quick.http() as http:
        service = quick.create_service(http)
        long_flow = quick.create_flex_flow(http, service, LongLived="true")
        short_flow = quick.create_flex_flow(http, service)
    rng = random.Random(7)
    rounds = [
        (long_flow if i % 2 else short_flow, new_phone(), INACTIVITY * rng.uniform(0.7, 1.5))
        for i in range(RACE_ROUNDS)
    ]
    url = f"{quick.url}/webhooks/twilio/messaging"

    async def post(client: httpx.AsyncClient, params: dict[str, str]) -> None:
        problem = ""
        for _ in range(20):  # a provider retries 5xx and dropped connections, with the same MessageSid
            try:
                response = await client.post(url, data=params, headers={"X-Twilio-Signature": quick.sign(url, params)})
            except httpx.TransportError as exc:
                problem = repr(exc)
            else:
                if response.status_code == 200:
                    return
                problem = response.text
            await asyncio.sleep(0.2)
        raise AssertionError(problem)

    async def one_round(client: httpx.AsyncClient, flow: dict[str, Any], customer: str, delay: float) -> None:
        to = flow["contact_identity"]
        await post(client, quick.sms_params(to, customer, f"A {customer}"))
        await asyncio.sleep(delay)
        second = quick.sms_params(to, customer, f"B {customer}")
        await post(client, second)
        await asyncio.sleep(0.05)
        await post(client, second)  # the provider's retry of B, right at the boundary

    async def run_all() -> None:
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            await asyncio.gather(*(one_round(client, *r) for r in rounds))

    asyncio.run(run_all())

    with quick.http() as http:

        def settled() -> list[dict[str, Any]]:
            channels = channels_of(http, service)
            assert sum(c["messages_count"] for c in channels) >= 2 * RACE_ROUNDS
            assert all(status_of(c) == "INACTIVE" for c in channels)
            return channels

        channels = eventually(settled, timeout=120)
        stored: Counter[str] = Counter()
        channels_per_contact: dict[str, list[str]] = {}
        for channel in channels:
            customer = json.loads(channel["attributes"])["from"]
            channels_per_contact.setdefault(customer, []).append(channel["sid"])
            messages = messages_of(http, service, channel["sid"])
            assert [m["index"] for m in messages] == list(range(len(messages)))  # no gaps
            stored.update(m["body"] for m in messages)

    expected = {f"{kind} {customer}" for _, customer, _ in rounds for kind in "AB"}
    lost = expected - set(stored)
    duplicated = {body: n for body, n in stored.items() if n > 1}
    assert not lost, f"{len(lost)} lost: {sorted(lost)[:5]}"
    assert not duplicated, f"{len(duplicated)} duplicated: {list(duplicated.items())[:5]}"
    assert set(stored) == expected
    for flow, customer, _ in rounds:
        allowed = 1 if flow is long_flow else 2
        assert 1 <= len(channels_per_contact[customer]) <= allowed


def test_three_thousand_messages_survive_continue_as_new_in_order(make_stack: StackFactory) -> None:
    stack = make_stack(channel_run_message_budget=300, channel_inactivity_seconds=60)
    total = 3000
    with stack.http() as http:
        service = stack.create_service(http)
        flow = stack.create_flex_flow(http, service, LongLived="true")
        customer = new_phone()
        url = f"{stack.url}/webhooks/twilio/messaging"
        for i in range(total):
            params = stack.sms_params(
                flow["contact_identity"], customer, f"message {i}", message_sid=f"SM{uuid.uuid4().hex}"
            )
            response = http.post(url, data=params, headers={"X-Twilio-Signature": stack.sign(url, params)})
            assert response.status_code == 200, response.text

        def all_stored() -> dict[str, Any]:
            [channel] = channels_of(http, service)
            assert channel["messages_count"] == total, channel["messages_count"]
            return channel

        channel = eventually(all_stored, timeout=120)
        bodies: list[str] = []
        indexes: list[int] = []
        next_url: str | None = f"{stack.url}/v2/Services/{service}/Channels/{channel['sid']}/Messages?PageSize=1000"
        while next_url:
            page = http.get(next_url).json()
            bodies += [m["body"] for m in page["messages"]]
            indexes += [m["index"] for m in page["messages"]]
            next_url = page["meta"]["next_page_url"]
        assert indexes == list(range(total))
        assert bodies == [f"message {i}" for i in range(total)]

    runs = workflow_ids(stack, f'WorkflowId="{channel["sid"]}"')
    assert len(runs) >= total // 300  # the channel continued as new rather than growing one history


def test_state_query_answers_the_live_channel(stack: Stack) -> None:
    with stack.http() as http:
        service = stack.create_service(http)
        flow = stack.create_flex_flow(http, service)
        customer = new_phone()
        for body in ("one", "two", "three"):
            send(stack, http, flow, customer, body)
        sid = eventually(lambda: _channel_with(http, service, messages=3))["sid"]
        assert (
            http.post(f"/v2/Services/{service}/Channels/{sid}/Members", data={"Identity": "agent"}).status_code == 201
        )

    state = stack.call(lambda c: ChannelClient(c, stack.settings.task_queue).state(sid))
    assert state.channel_sid == sid and state.status == ChannelStatus.ACTIVE
    assert (state.messages_count, state.last_index, state.pending) == (3, 2, 0)
    assert sorted(m.identity for m in state.members) == sorted([customer, "agent"])
    assert json.loads(state.attributes) == {
        "from": customer,
        "channel_type": "sms",
        "status": "ACTIVE",
        "long_lived": False,
    }


def _channel_with(http: httpx.Client, service: str, messages: int) -> dict[str, Any]:
    [channel] = channels_of(http, service)
    assert channel["messages_count"] == messages
    return channel


def test_rest_posts_racing_continue_as_new_are_all_answered(make_stack: StackFactory) -> None:
    """REST posts are updates: Temporal turns away those beyond its in-flight limit per workflow
    and aborts those admitted while the run continues as new, without applying them; the API
    retries them. Every post is answered 201 and stored once (its key was minted before the first
    try), with gap-free indexes."""
    stack = make_stack(channel_run_message_budget=4, channel_inactivity_seconds=60)
    posters, per_poster = 16, 10
    with stack.http() as http:
        service = stack.create_service(http)
        channel = http.post(f"/v2/Services/{service}/Channels", data={"FriendlyName": "busy"}).json()["sid"]
    url = f"{stack.url}/v2/Services/{service}/Channels/{channel}/Messages"

    async def poster(client: httpx.AsyncClient, name: str) -> None:
        for i in range(per_poster):
            response = await client.post(url, data={"Body": f"{name} {i}", "From": name})
            assert response.status_code == 201, response.text

    async def run_all() -> None:
        auth = (stack.settings.account_sid, stack.settings.auth_token)
        async with httpx.AsyncClient(timeout=60, auth=auth) as client:
            await asyncio.gather(*(poster(client, f"p{n}") for n in range(posters)))

    asyncio.run(run_all())
    with stack.http() as http:
        messages = messages_of(http, service, channel)
    assert [m["index"] for m in messages] == list(range(posters * per_poster))
    assert sorted(m["body"] for m in messages) == sorted(f"p{n} {i}" for n in range(posters) for i in range(per_poster))
    # Continue-as-new happened many times (a run may take more than its budget in one batch).
    assert len(workflow_ids(stack, f'WorkflowId="{channel}"')) >= 5


@pytest.mark.store_backends  # contacts and concurrent appends, on both stores
def test_continue_as_new_under_concurrent_traffic_loses_nothing(make_stack: StackFactory) -> None:
    """Signals landing while a run continues as new (the server then rejects the command and the
    task is retried) are all stored once, with gap-free indexes."""
    stack = make_stack(channel_run_message_budget=25, channel_inactivity_seconds=60)
    customers, per_customer = 8, 60
    with stack.http() as http:
        service = stack.create_service(http)
        flow = stack.create_flex_flow(http, service, LongLived="true")
    numbers = [new_phone() for _ in range(customers)]
    url = f"{stack.url}/webhooks/twilio/messaging"

    async def customer(client: httpx.AsyncClient, number: str) -> None:
        gate = asyncio.Semaphore(4)  # several messages of one customer in flight at once

        async def one(i: int) -> None:
            params = stack.sms_params(flow["contact_identity"], number, f"{number} {i}")
            async with gate:
                response = await client.post(url, data=params, headers={"X-Twilio-Signature": stack.sign(url, params)})
            assert response.status_code == 200, response.text

        await asyncio.gather(*(one(i) for i in range(per_customer)))

    async def run_all() -> None:
        async with httpx.AsyncClient(timeout=60) as client:
            await asyncio.gather(*(customer(client, n) for n in numbers))

    asyncio.run(run_all())
    with stack.http() as http:

        def all_stored() -> list[dict[str, Any]]:
            channels = channels_of(http, service)
            assert len(channels) == customers
            assert all(c["messages_count"] == per_customer for c in channels), [c["messages_count"] for c in channels]
            return channels

        for channel in eventually(all_stored, timeout=120):
            messages = messages_of(http, service, channel["sid"])
            assert [m["index"] for m in messages] == list(range(per_customer))
            number = json.loads(channel["attributes"])["from"]
            assert sorted(m["body"] for m in messages) == sorted(f"{number} {i}" for i in range(per_customer))
        runs = workflow_ids(stack, f'WorkflowId="{channel["sid"]}"')
        assert len(runs) >= per_customer // 25


def test_a_message_bound_to_a_task_is_refused_once_the_conversation_is_not_with_it(quick: Stack) -> None:
    """An agent's first words on a conversation it started carry its task: a channel whose
    conversation is with no task (or another one) refuses them, and stores nothing."""
    with quick.http() as http:
        service = quick.create_service(http)
        created = http.post(f"/v2/Services/{service}/Channels", data={"FriendlyName": "bound"})
        assert created.status_code == 201, created.text
        channel_sid = created.json()["sid"]

    async def post(client: Client, message: InboundMessage) -> str:
        handle = client.get_workflow_handle(channel_sid)
        try:
            stored = await handle.execute_update(ChannelWorkflow.post_message, message)
        except WorkflowUpdateFailedError as exc:
            assert isinstance(exc.cause, ApplicationError)
            return str(exc.cause.type)
        return stored.sid

    bound = InboundMessage(key="k-bound", author="agent", body="hi", requires_task="WT" + "1" * 32)
    assert quick.call(lambda client: post(client, bound)) == "ConversationTaken"
    free = InboundMessage(key="k-free", author="agent", body="hello")
    assert quick.call(lambda client: post(client, free)).startswith("IM")
    with quick.http() as http:
        assert [m["body"] for m in messages_of(http, service, channel_sid)] == ["hello"]
