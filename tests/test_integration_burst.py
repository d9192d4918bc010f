"""An ``external`` integration under a burst: the channel keeps its run budget (continuing as new
with posts still queued, which the next run posts), every message is posted exactly once and in
order, and what the integration will not take is recorded, never dropped. The batch activity
itself: a retried attempt resumes after the posts it finished."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import secrets
from typing import Any, cast

from sqlmodel import select
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import ActivityEnvironment

from activities.http import HttpActivities
from activities.store import StoreActivities
from switchboard.outbound_http import OutboundClient
from switchboard.store.crypto import Cipher, KeyedHasher
from switchboard.store.db import Database
from switchboard.store.migrate import migrate
from switchboard.store.models import Channel, IntegrationFailure, Service
from tests.helpers.recording import RecordingServer, Reply
from tests.helpers.stack import LOOPBACK_NETWORKS, Stack, StackFactory, eventually, new_phone
from workflows import sids
from workflows.channel import ChannelWorkflow
from workflows.messages import AppendMessages, ChatWebhookPosts, InboundMessage, NewMessage, TriggerWebhook
from workflows.starter import ChannelClient

TOTAL = 3000
BUDGET = 500
# Signals sent before waiting for the channel to store them: one channel is not flooded.
WINDOW = 100
# Events one stored message may cost a run: its signal, its share of workflow tasks, of the
# batched store calls and of the batched posts (measured: under 2). A run holds its budget plus
# what arrived while it finished (a window or so), plus its start and end.
EVENTS_PER_MESSAGE = 3
RUN_HISTORY_BOUND = (BUDGET + WINDOW) * EVENTS_PER_MESSAGE + 100
# Runs the burst takes at least (one run would hold it all were the budget not kept): each holds
# its budget and what arrived while it finished, up to twice its budget on a slow machine.
MIN_RUNS = TOTAL // (2 * BUDGET)


def test_a_burst_to_an_external_integration_keeps_the_run_budget_and_posts_each_message_once_in_order(
    make_stack: StackFactory, outside: RecordingServer
) -> None:
    stack = make_stack(channel_run_message_budget=BUDGET, channel_inactivity_seconds=60)
    customer = new_phone()
    with stack.http() as http:
        service = stack.create_service(http)
        flow = stack.create_flex_flow(
            http, service, LongLived="true", IntegrationType="external", **{"Integration.Url": f"{outside.url}/burst"}
        )
        # The customer's first message opens the channel; the rest go as the webhook sends them.
        response = stack.post_webhook(http, stack.sms_params(flow["contact_identity"], customer, "message 0"))
        assert response.status_code == 200, response.text

        def opened() -> str:
            [channel] = http.get(f"/v2/Services/{service}/Channels").json()["channels"]
            return str(channel["sid"])

        channel_sid = eventually(opened)

    async def burst(client: Client) -> None:
        handle = client.get_workflow_handle(channel_sid)
        channels = ChannelClient(client, stack.settings.task_queue)
        for start in range(1, TOTAL, WINDOW):
            sent = range(start, min(start + WINDOW, TOTAL))
            for i in sent:
                key = f"twilio:SM{secrets.token_hex(16)}"
                await handle.signal(ChannelWorkflow.deliver, InboundMessage(key, customer, f"message {i}"))
            await until_stored(channels, channel_sid, sent[-1] + 1)

    stack.call(burst, timeout=600)
    # The channel kept its budget while posts were still queued...
    assert_runs_kept_the_budget(stack, channel_sid)

    def all_posted() -> list[dict[str, str]]:
        received = outside.received("/burst")
        assert len(received) >= TOTAL, f"{len(received)} of {TOTAL} posted"
        for request in received:  # the token an integration drops a repeat by
            assert request.headers["I-Twilio-Idempotency-Token"] == request.form["MessageSid"]
        return [r.form for r in received]

    posts = eventually(all_posted, timeout=300)
    # ...and every message was posted exactly once, in order.
    assert [p["Body"] for p in posts] == [f"message {i}" for i in range(TOTAL)]
    assert [int(p["Index"]) for p in posts] == list(range(TOTAL))
    assert len({p["MessageSid"] for p in posts}) == TOTAL
    assert {p["RetryCount"] for p in posts} == {"0"} and {p["ChannelSid"] for p in posts} == {channel_sid}
    with stack.http() as http:
        failures = http.get(f"/v1/FlexFlows/{flow['sid']}/IntegrationFailures").json()["integration_failures"]
    assert failures == []
    assert_runs_kept_the_budget(stack, channel_sid)


def assert_runs_kept_the_budget(stack: Stack, channel_sid: str) -> None:
    async def run_lengths(client: Client) -> list[int]:
        lengths = []
        async for execution in client.list_workflows(f'WorkflowId="{channel_sid}"'):
            history = await client.get_workflow_handle(channel_sid, run_id=execution.run_id).fetch_history()
            lengths.append(len(history.events))
        return lengths

    def continued() -> list[int]:
        lengths = stack.call(run_lengths)
        # Visibility lags behind continue-as-new: wait until it lists them.
        assert len(lengths) >= MIN_RUNS, lengths
        return lengths

    lengths = eventually(continued, timeout=60)
    print("history lengths of the channel's runs:", lengths)
    assert max(lengths) <= RUN_HISTORY_BOUND, lengths


async def until_stored(channels: ChannelClient, channel_sid: str, count: int) -> None:
    while True:
        with contextlib.suppress(RPCError):  # a query landing as the run continues as new
            if (await channels.state(channel_sid)).messages_count >= count:
                return
        await asyncio.sleep(0.05)


def key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


async def test_a_retried_batch_resumes_after_the_posts_it_finished_and_records_what_fails(
    tmp_path: Any, outside: RecordingServer
) -> None:
    """The attempt before this one heartbeated two posts finished: they are not posted again. The
    next post fails its try and its retry and is recorded once; the batch goes on in order."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'posts.db'}")
    outbound = OutboundClient.from_setting(LOOPBACK_NETWORKS)
    try:
        await migrate(db.engine)
        cipher = Cipher.from_setting(f"k1:{key()}")
        service_sid, channel_sid = sids.new_sid(sids.SERVICE), sids.new_sid(sids.CHANNEL)
        async with db.write_session() as session:
            session.add(Service(sid=service_sid, friendly_name="posts"))
            await session.flush()
            session.add(Channel(sid=channel_sid, service_sid=service_sid, attributes_enc=cipher.encrypt("{}", "x")))
            await session.commit()
        store = StoreActivities(db, cipher, KeyedHasher.from_setting(key()), cast(ChannelClient, None))
        bodies = ["zero", "one", "two", "three", "four"]
        news = [
            NewMessage(sids.new_sid(sids.MESSAGE), InboundMessage(str(n), "+15550001", b)) for n, b in enumerate(bodies)
        ]
        await ActivityEnvironment().run(store.append_messages, AppendMessages(channel_sid, service_sid, news))
        path = f"/resume-{secrets.token_hex(4)}"
        # "two" fails twice (its try and its one retry); the rest are taken.
        outside.script(path, Reply(503), Reply(500), Reply(200))
        posts = ChatWebhookPosts(f"{outside.url}{path}", 1, "FO" + "0" * 32, channel_sid, service_sid, [0, 1, 2, 3, 4])
        env = ActivityEnvironment()
        env.info = dataclasses.replace(env.info, heartbeat_details=[2, 0])
        beats: list[tuple[Any, ...]] = []
        env.on_heartbeat = lambda *details: beats.append(details)
        http = HttpActivities(db, "token", outbound, cipher)

        result = await env.run(http.post_chat_webhooks, posts)

        sent = outside.received(path)
        assert [(r.form["Body"], r.form["RetryCount"]) for r in sent] == [
            ("two", "0"),
            ("two", "1"),
            ("three", "0"),
            ("four", "0"),
        ]
        assert (result.posted, result.failed) == (4, 1)  # the two before, three and four; two failed
        assert beats[-1] == (5, 1, 0, False)
        async with db.session() as session:
            [failure] = (await session.exec(select(IntegrationFailure))).all()
        assert failure.message_sid == news[2].sid and failure.attempts == 2 and "HTTP 500" in failure.error
    finally:
        await outbound.aclose()
        await db.dispose()


async def test_a_retried_batch_posts_the_trigger_webhooks_a_message_still_owes(
    tmp_path: Any, outside: RecordingServer
) -> None:
    """A message goes to the integration, then to each trigger webhook it fires. The attempt
    before this one finished message 0 and message 1's post to the integration: this one posts
    message 1 to its trigger webhook only, then message 2 (which fires none) to the integration."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'triggers.db'}")
    outbound = OutboundClient.from_setting(LOOPBACK_NETWORKS)
    try:
        await migrate(db.engine)
        cipher = Cipher.from_setting(f"k1:{key()}")
        service_sid, channel_sid = sids.new_sid(sids.SERVICE), sids.new_sid(sids.CHANNEL)
        async with db.write_session() as session:
            session.add(Service(sid=service_sid, friendly_name="triggers"))
            await session.flush()
            session.add(Channel(sid=channel_sid, service_sid=service_sid, attributes_enc=cipher.encrypt("{}", "x")))
            await session.commit()
        store = StoreActivities(db, cipher, KeyedHasher.from_setting(key()), cast(ChannelClient, None))
        bodies = ["help", "Help me", "thanks"]
        news = [
            NewMessage(sids.new_sid(sids.MESSAGE), InboundMessage(str(n), "+15550001", b)) for n, b in enumerate(bodies)
        ]
        await ActivityEnvironment().run(store.append_messages, AppendMessages(channel_sid, service_sid, news))
        bot, trigger = f"/bot-{secrets.token_hex(4)}", f"/trigger-{secrets.token_hex(4)}"
        posts = ChatWebhookPosts(
            f"{outside.url}{bot}",
            0,
            None,
            channel_sid,
            service_sid,
            [0, 1, 2],
            triggers=[TriggerWebhook(f"{outside.url}{trigger}", ["help"], "GET")],
        )
        env = ActivityEnvironment()
        env.info = dataclasses.replace(env.info, heartbeat_details=[1, 0, 1, False])
        beats: list[tuple[Any, ...]] = []
        env.on_heartbeat = lambda *details: beats.append(details)

        result = await env.run(HttpActivities(db, "token", outbound, cipher).post_chat_webhooks, posts)

        assert [r.query["Body"] for r in outside.received(trigger)] == [["Help me"]]
        assert [r.form["Body"] for r in outside.received(bot)] == ["thanks"]
        assert outside.received(trigger)[0].headers["I-Twilio-Idempotency-Token"] == news[1].sid
        assert (result.posted, result.failed) == (3, 0)
        assert beats == [(1, 0, 2, False), (2, 0, 0, False), (2, 0, 1, False), (3, 0, 0, False)]
    finally:
        await outbound.aclose()
        await db.dispose()
