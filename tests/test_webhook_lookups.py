"""The webhook's hot path keeps what rarely changes in memory (``api.lookups``): a contact's next
messages read from the store only the three lookups not cached yet, and every change that matters is heard: a Flex Flow
disabled, moved to another number or deleted refuses the next message at once (on this replica,
and on another one through Redis, with a cache life out of the test's reach); a contact whose
short-lived channel closed writes on its successor from then on, and one whose channel was
deleted on a new channel."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from api.lookups import SUBSCRIBED_SECONDS, ContactChannel, LookupCache
from api.webhooks.custom import signature_for
from switchboard.devstack import DevServer
from switchboard.store.db import Database
from switchboard.store.fanout import FeedPublisher, contact_key, flex_flow_key, publish_on_commit
from switchboard.store.migrate import migrate
from switchboard.store.models import Channel, Contact, FlexFlow, Service
from tests.helpers.messages import messages_of
from tests.helpers.recording import RecordingServer
from tests.helpers.stack import (
    REDIS_URL,
    Stack,
    StackFactory,
    eventually,
    free_port,
    new_phone,
    second_api,
    stack_on_postgresql,
)
from tests.helpers.statements import request_statements

# A cache life no test waits out: only invalidations can make a change heard.
FOREVER = 3600.0
INACTIVITY = 1.0


@pytest.fixture(scope="module")
def stack(make_stack: StackFactory) -> Stack:
    return make_stack(
        lookup_cache_seconds=FOREVER, channel_inactivity_seconds=INACTIVITY, custom_webhook_secret=secrets.token_hex(16)
    )


def send(stack: Stack, http: httpx.Client, to: str, customer: str, body: str) -> httpx.Response:
    return stack.post_webhook(http, stack.sms_params(to, customer, body))


def channel_sids(http: httpx.Client, service_sid: str) -> list[str]:
    channels = http.get(f"/v2/Services/{service_sid}/Channels", params={"PageSize": "1000"}).json()["channels"]
    return [str(c["sid"]) for c in sorted(channels, key=lambda c: str(c["date_created"]))]


def bodies(http: httpx.Client, service_sid: str, channel_sid: str) -> list[str]:
    return [str(m["body"]) for m in messages_of(http, service_sid, channel_sid)]


def test_a_contacts_next_messages_read_only_what_is_not_cached_yet(stack: Stack) -> None:
    with stack.http() as http:
        service = stack.create_service(http)
        flow = stack.create_flex_flow(http, service, LongLived="true")
        number, customer, another = flow["contact_identity"], new_phone(), new_phone()
        counts: dict[str, int] = {}
        for label, sender, expected in (
            ("1st", customer, ["one"]),
            ("2nd", customer, ["one", "two"]),
            ("3rd", customer, ["one", "two", "three"]),
            ("another's 1st", another, ["one"]),
        ):
            with request_statements() as statements:
                assert send(stack, http, number, sender, expected[-1]).status_code == 200
            eventually(partial(assert_messages, http, service, sender, expected))
            counts[label] = len(statements)
        # The Flex Flow, the contact and their channel, once (cached until they change); and on
        # every message three reads not cached yet: the bound-participant lookup, the channel row
        # and the Conversations webhook configurations (bench.webhook_queries shows the same).
        uncached = 3
        assert counts == {"1st": 3 + uncached, "2nd": uncached, "3rd": uncached, "another's 1st": 2 + uncached}


def assert_messages(http: httpx.Client, service_sid: str, sender: str, expected: list[str]) -> None:
    channels = http.get(f"/v2/Services/{service_sid}/Channels").json()["channels"]
    [channel] = [c["sid"] for c in channels if json.loads(c["attributes"])["from"] == sender]
    assert bodies(http, service_sid, channel) == expected


def test_a_flex_flow_changed_through_the_api_is_heard_by_the_next_webhook(stack: Stack) -> None:
    flows = stack.twilio().flex_api.v1.flex_flow
    with stack.http() as http:
        service = stack.create_service(http)
        flow = stack.create_flex_flow(http, service)
        number, customer = flow["contact_identity"], new_phone()
        assert send(stack, http, number, customer, "while enabled").status_code == 200

        flows(flow["sid"]).update(enabled=False)
        refused = send(stack, http, number, customer, "while disabled")
        assert refused.status_code == 404, refused.text
        assert number in refused.json()["message"]

        flows(flow["sid"]).update(enabled=True)
        assert send(stack, http, number, customer, "enabled again").status_code == 200

        moved_to = new_phone()
        flows(flow["sid"]).update(contact_identity=moved_to)
        assert send(stack, http, number, customer, "to the old number").status_code == 404
        assert send(stack, http, moved_to, customer, "to the new number").status_code == 200

        flows(flow["sid"]).delete()
        assert send(stack, http, moved_to, customer, "after the delete").status_code == 404

        # A flow created for a number that was refused (and remembered as served by none) serves it.
        created = flows.create(
            friendly_name="sms in again", chat_service_sid=service, channel_type="sms", contact_identity=number
        )
        assert created.enabled
        assert send(stack, http, number, customer, "to the new flow").status_code == 200


def test_a_custom_flow_disabled_refuses_its_next_message(stack: Stack) -> None:
    flows = stack.twilio().flex_api.v1.flex_flow
    with stack.http() as http:
        service = stack.create_service(http)
        flow = flows.create(friendly_name="kiosk", chat_service_sid=service, channel_type="custom")
        assert post_custom(stack, http, flow.sid, "m1").status_code == 204
        flows(flow.sid).update(enabled=False)
        assert post_custom(stack, http, flow.sid, "m2").status_code == 404


def post_custom(stack: Stack, http: httpx.Client, flex_flow_sid: str, message_id: str) -> httpx.Response:
    raw = json.dumps({"id": message_id, "from": "kiosk-7", "body": "hello"}).encode()
    timestamp = str(int(time.time()))
    secret = stack.settings.custom_webhook_secret
    headers = {
        "X-Switchboard-Timestamp": timestamp,
        "X-Switchboard-Signature": signature_for(secret, timestamp, raw),
        "Content-Type": "application/json",
    }
    return http.post(f"/webhooks/custom/{flex_flow_sid}", content=raw, headers=headers)


def test_after_a_short_lived_channel_closes_the_contact_writes_on_its_successor(stack: Stack) -> None:
    with stack.http() as http:
        service = stack.create_service(http)
        flow = stack.create_flex_flow(http, service)
        number, customer = flow["contact_identity"], new_phone()
        assert send(stack, http, number, customer, "first interaction").status_code == 200
        [first] = eventually(lambda: closed_channels(http, service))
        assert send(stack, http, number, customer, "second interaction").status_code == 200

        def two_channels() -> list[str]:
            sids = channel_sids(http, service)
            assert len(sids) == 2 and bodies(http, service, sids[1]) == ["second interaction"]
            return sids

        _, successor = eventually(two_channels)
        runs_of_first = len(workflow_runs(stack, first))
        assert send(stack, http, number, customer, "third, on the successor").status_code == 200
        eventually(lambda: _assert_bodies(http, service, successor, ["second interaction", "third, on the successor"]))
        # The API heard that the contact moved on: the closed channel was not started again.
        assert len(workflow_runs(stack, first)) == runs_of_first
        assert channel_sids(http, service) == [first, successor]
        assert bodies(http, service, first) == ["first interaction"]


def closed_channels(http: httpx.Client, service_sid: str) -> list[str]:
    channels = http.get(f"/v2/Services/{service_sid}/Channels").json()["channels"]
    assert channels and all(json.loads(c["attributes"])["status"] == "INACTIVE" for c in channels), channels
    return [str(c["sid"]) for c in channels]


def _assert_bodies(http: httpx.Client, service_sid: str, channel_sid: str, expected: list[str]) -> None:
    assert bodies(http, service_sid, channel_sid) == expected


def workflow_runs(stack: Stack, workflow_id: str) -> list[str]:
    async def runs(client: Client) -> list[str]:
        return [w.run_id async for w in client.list_workflows(f'WorkflowId="{workflow_id}"')]

    return stack.call(runs)


def test_after_its_channel_is_deleted_the_contacts_next_message_opens_a_new_one(stack: Stack) -> None:
    chat = stack.twilio().chat.v2
    with stack.http() as http:
        service = stack.create_service(http)
        flow = stack.create_flex_flow(http, service, LongLived="true")
        number, customer = flow["contact_identity"], new_phone()
        assert send(stack, http, number, customer, "before").status_code == 200
        [old] = eventually(lambda: stored_channels(http, service, 1))
        assert chat.services(service).channels(old).delete() is True
        assert send(stack, http, number, customer, "after").status_code == 200
        [new] = eventually(lambda: stored_channels(http, service, 1))
        assert new != old and bodies(http, service, new) == ["after"]


def stored_channels(http: httpx.Client, service_sid: str, count: int) -> list[str]:
    sids = channel_sids(http, service_sid)
    assert len(sids) == count and all(bodies(http, service_sid, sid) for sid in sids), sids
    return sids


def test_a_reopened_channel_runs_the_webhook_a_caller_set_meanwhile(stack: Stack, outside: RecordingServer) -> None:
    chat = stack.twilio().chat.v2
    with stack.http() as http:
        service = stack.create_service(http)
        flow = stack.create_flex_flow(http, service, LongLived="true")
        number, customer = flow["contact_identity"], new_phone()
        assert send(stack, http, number, customer, "before").status_code == 200
        [channel] = eventually(lambda: stored_channels(http, service, 1))
        chat.services(service).channels(channel).webhooks.create(
            type="webhook", configuration_url=f"{outside.url}/bridge", configuration_filters=["onMessageSent"]
        )
        eventually(lambda: closed_channels(http, service))
        eventually(lambda: workflow_completed(stack, channel))
        assert send(stack, http, number, customer, "after the close").status_code == 200

        def posted() -> None:
            assert [r.form["Body"] for r in outside.received("/bridge")] == ["after the close"]

        eventually(posted)


def workflow_completed(stack: Stack, channel_sid: str) -> None:
    async def status(client: Client) -> WorkflowExecutionStatus | None:
        return (await client.get_workflow_handle(channel_sid).describe()).status

    assert stack.call(status) == WorkflowExecutionStatus.COMPLETED


def test_a_flow_disabled_on_one_replica_is_refused_by_another_through_redis(make_stack: StackFactory) -> None:
    refused_by_the_other_replica(make_stack(redis_url=REDIS_URL, lookup_cache_seconds=FOREVER))


def test_on_postgresql_without_redis_another_replica_hears_of_the_disabled_flow(
    temporal_server: DevServer, tmp_path: Path
) -> None:
    with stack_on_postgresql(temporal_server, tmp_path, lookup_cache_seconds=FOREVER) as one:
        refused_by_the_other_replica(one)


def refused_by_the_other_replica(one: Stack) -> None:
    """Replica two remembers the flow serving a number; replica one disables it; replica two
    refuses the next message (its cache life is out of reach: only the invalidation can do it)."""
    settings = one.settings.model_copy(update={"api_port": free_port()})
    with second_api(settings) as two, one.http() as http, two.http() as http_two:
        service = one.create_service(http)
        flow = one.create_flex_flow(http, service)
        number, customer = flow["contact_identity"], new_phone()
        assert send(two, http_two, number, customer, "remembered by replica two").status_code == 200
        one.twilio().flex_api.v1.flex_flow(flow["sid"]).update(enabled=False)

        def refused_by_two() -> None:
            assert send(two, http_two, number, customer, "after the disable").status_code == 404

        eventually(refused_by_two)


# --- the cache and its keys, without a stack ------------------------------------------------------


def flow_row(sid: str = "FO1", enabled: bool = True) -> FlexFlow:
    return FlexFlow(
        sid=sid,
        friendly_name="f",
        chat_service_sid="IS1",
        channel_type="sms",
        contact_identity="+15550001",
        enabled=enabled,
    )


def channel_row(**fields: Any) -> Channel:
    values: dict[str, Any] = {
        "sid": "CH3",
        "service_sid": "IS1",
        "attributes_enc": "x",
        "flex_flow_sid": "FO2",
        "contact_hash": "h3",
        "long_lived": True,
        **fields,
    }
    return Channel(**values)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.fast
async def test_the_cache_keeps_answers_for_their_life_and_drops_what_keys_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock()
    monkeypatch.setattr("api.lookups.time.monotonic", clock)
    subscribed = False
    cache = LookupCache(5.0, lambda: subscribed)
    loads: list[str] = []

    async def load_flow() -> FlexFlow | None:
        loads.append("flow")
        return flow_row()

    async def load_channel() -> ContactChannel:
        loads.append("contact")
        return ContactChannel("CH1", None, None)

    key = ("sms", "+15550001")
    assert (await cache.flow(key, load_flow)) is not None
    assert (await cache.flow(key, load_flow)) is not None
    assert (await cache.contact_channel(("FO1", "h1"), load_channel)).channel_sid == "CH1"
    assert (await cache.contact_channel(("FO1", "h1"), load_channel)).channel_sid == "CH1"
    assert loads == ["flow", "contact"]

    clock.now += 5.0  # the life without a subscription is over for both
    await cache.flow(key, load_flow)
    await cache.contact_channel(("FO1", "h1"), load_channel)
    assert loads == ["flow", "contact"] * 2

    subscribed = True  # with one, a contact's channel lives longer; a flow does not
    clock.now += 60.0
    await cache.flow(key, load_flow)
    await cache.contact_channel(("FO1", "h1"), load_channel)
    assert loads == ["flow", "contact"] * 2 + ["flow"]
    clock.now += SUBSCRIBED_SECONDS - 60.0
    await cache.contact_channel(("FO1", "h1"), load_channel)
    assert loads == ["flow", "contact"] * 3
    subscribed = False  # the subscription is lost: the short life again
    clock.now += 5.0
    await cache.contact_channel(("FO1", "h1"), load_channel)
    assert loads == ["flow", "contact"] * 3 + ["contact"]
    await cache.flow(key, load_flow)
    del loads[:]

    cache.invalidate(["agent:WK1", contact_key("FO1", "other")])  # not these entries
    await cache.flow(key, load_flow)
    await cache.contact_channel(("FO1", "h1"), load_channel)
    assert loads == []
    cache.invalidate([flex_flow_key("FO9"), contact_key("FO1", "h1")])
    await cache.flow(key, load_flow)
    await cache.contact_channel(("FO1", "h1"), load_channel)
    assert loads == ["flow", "contact"]
    cache.invalidate(None)  # a new subscription: anything may have been missed
    await cache.flow(key, load_flow)
    await cache.contact_channel(("FO1", "h1"), load_channel)
    assert loads == ["flow", "contact"] * 2


@pytest.mark.fast
async def test_an_answer_read_before_an_invalidation_is_not_kept() -> None:
    cache = LookupCache(FOREVER)
    reading = asyncio.Event()
    release = asyncio.Event()

    async def slow_old_row() -> FlexFlow | None:
        reading.set()
        await release.wait()
        return flow_row(enabled=True)  # read before the change committed

    lookup = asyncio.create_task(cache.flow(("sms", "+15550001"), slow_old_row))
    await reading.wait()
    cache.invalidate([flex_flow_key("FO1")])  # the change commits meanwhile
    release.set()
    await lookup

    async def new_row() -> FlexFlow | None:
        return None

    assert await cache.flow(("sms", "+15550001"), new_row) is None


@pytest.mark.fast
async def test_a_cached_flow_belongs_to_no_session(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'flows.db'}")
    cache = LookupCache(FOREVER)
    try:
        await migrate(db.engine)
        async with db.session() as session:
            session.add(Service(sid="IS1", friendly_name="s"))
            session.add(flow_row())
            await session.commit()
        async with db.session() as session:
            cached = await cache.flow(("sid", "FO1"), lambda: session.get(FlexFlow, "FO1"))
            await session.rollback()  # expires what the session holds, not what the cache does
        assert cached is not None and cached.contact_identity == "+15550001"
        assert cached not in session
    finally:
        await db.dispose()


@pytest.mark.fast
async def test_commits_publish_the_keys_of_changed_flows_and_moved_contacts(tmp_path: Path) -> None:
    heard: list[set[str]] = []
    publisher = FeedPublisher()
    publisher.add_listener(heard.append)
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}", publisher)

    async def commit(*rows: Any, delete: Any = None, keys: list[str] | None = None) -> None:
        async with db.session() as session:
            for row in rows:
                await session.merge(row)
            if delete is not None:
                await session.delete(await session.get(type(delete), delete.sid))
            if keys:
                await publish_on_commit(session, keys)
            await session.commit()

    try:
        await migrate(db.engine)
        await commit(Service(sid="IS1", friendly_name="s"))
        await commit(flow_row())
        await commit(flow_row(enabled=False))
        await commit(delete=flow_row())
        await commit(flow_row(sid="FO2"))
        # A contact on its first channel changes no answer; one moved on does.
        await commit(Contact(flex_flow_sid="FO2", address_hash="h1", address_enc="x", current_channel_sid="CH0"))
        await commit(
            Contact(flex_flow_sid="FO2", address_hash="h1", address_enc="x", current_channel_sid="CH1", sequence=1)
        )
        await commit(Service(sid="IS1", friendly_name="renamed"), keys=[contact_key("FO2", "h2")])
        # A contact's new channel runs its flow's integration, as no channel does; its status, the
        # webhooks and attributes a caller sets change that, the messages it counts do not.
        await commit(channel_row())
        await commit(channel_row(messages_count=3))
        await commit(channel_row(messages_count=3, status="INACTIVE"))
        await commit(channel_row(messages_count=3, status="INACTIVE", webhooks_json="[]"))
        await commit(channel_row(status="INACTIVE", webhooks_json="[]", attributes_enc="y", attributes_written=True))
        await commit(channel_row(contact_hash=None, status="ACTIVE"))
        assert heard == [
            {flex_flow_key("FO1")},
            {flex_flow_key("FO1")},
            {flex_flow_key("FO1")},
            {flex_flow_key("FO2")},
            {contact_key("FO2", "h1")},
            {contact_key("FO2", "h2")},
            {contact_key("FO2", "h3")},
            {contact_key("FO2", "h3")},
            {contact_key("FO2", "h3")},
        ]
    finally:
        await db.dispose()
