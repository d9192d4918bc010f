"""The reply wait's default timeout (3600 s) on Temporal's time-skipping test server: the flow
takes its ``timeout`` transition after an hour and not before, and a waiting flow keeps its channel
open past the channel's inactivity limit.

The test server cannot register custom search attributes, so this test alone leaves them out (a
client interceptor on starts, a no-op upsert in the workflow); the rest is the production code."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select
from temporalio import workflow
from temporalio.client import Client, Interceptor, OutboundInterceptor, StartWorkflowInput, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from switchboard.store.db import Database, create_tables
from switchboard.store.models import Channel, Message, Service, StudioFlow, StudioFlowRevision
from tests.helpers.stack import new_phone, test_settings
from worker import build_workers
from workflows.messages import ChannelConfig, InboundMessage, Integration
from workflows.starter import ChannelClient

FLOW = "FW" + "1" * 32
SERVICE = "IS" + "2" * 32
CHANNEL = "CH" + "3" * 32
DEFINITION = {
    "initial_state": "Trigger",
    "states": [
        {"name": "Trigger", "type": "trigger", "transitions": [{"event": "incomingMessage", "next": "ask"}]},
        {
            "name": "ask",
            "type": "send-and-wait-for-reply",
            # No timeout property: Studio's default of an hour applies.
            "transitions": [{"event": "incomingMessage"}, {"event": "timeout", "next": "goodbye"}],
            "properties": {"from": "Bot", "body": "Still there?"},
        },
        {
            "name": "goodbye",
            "type": "send-message",
            "transitions": [{"event": "sent"}],
            "properties": {"from": "Bot", "body": "Closing this chat; write again any time."},
        },
    ],
}


class WithoutSearchAttributes(Interceptor):
    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _StartWithout(next)


class _StartWithout(OutboundInterceptor):
    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        input.search_attributes = None
        return await super().start_workflow(input)


@pytest.fixture
async def skipping() -> AsyncIterator[WorkflowEnvironment]:
    binary = Path(sys.executable).parent / "temporal-test-server"
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=str(binary))
    try:
        yield env
    finally:
        await env.shutdown()


async def bodies(db: Database) -> list[str | None]:
    async with db.session() as session:
        rows = (
            await session.exec(select(Message).where(Message.channel_sid == CHANNEL).order_by(col(Message.index)))
        ).all()
    return [row.body_enc for row in rows]


async def wait_for_count(db: Database, count: int) -> None:
    for _ in range(200):
        if len(await bodies(db)) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the channel never held {count} messages: {len(await bodies(db))}")


async def channel_status(db: Database) -> str:
    async with db.session() as session:
        channel = await session.get(Channel, CHANNEL)
        assert channel is not None
        return channel.status


async def test_default_reply_timeout_is_an_hour(
    skipping: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workflow, "upsert_search_attributes", lambda _updates: None)
    settings = test_settings(tmp_path)
    db = Database(settings.resolved_database_url)
    await create_tables(db.engine)
    async with db.write_session() as session:
        session.add(Service(sid=SERVICE, friendly_name="support"))
        session.add(StudioFlow(sid=FLOW, friendly_name="bot", status="published"))
        session.add(
            StudioFlowRevision(
                flow_sid=FLOW,
                revision=1,
                friendly_name="bot",
                status="published",
                definition_json=json.dumps(DEFINITION),
            )
        )
        await session.commit()
    base = skipping.client
    client = Client(base.service_client, namespace=base.namespace, interceptors=[WithoutSearchAttributes()])
    customer = new_phone()
    config = ChannelConfig(
        channel_sid=CHANNEL,
        service_sid=SERVICE,
        channel_type="sms",
        long_lived=False,
        inactivity_seconds=1800,
        run_message_budget=1000,
        contact_address=customer,
        integration=Integration(type="studio", flow_sid=FLOW),
        flow_address="+15005550006",
    )
    async with build_workers(client, settings, db):
        await ChannelClient(client, settings.task_queue).deliver(config, InboundMessage("SM1", customer, "hi"))
        await wait_for_count(db, 2)  # the message and the question
        await skipping.sleep(3500)
        assert len(await bodies(db)) == 2, "the flow gave up before its hour"
        # Past the channel's 1800 s of inactivity, but the waiting flow holds it open.
        assert await channel_status(db) == "ACTIVE"
        await skipping.sleep(200)
        await wait_for_count(db, 3)
        await skipping.sleep(1900)  # the flow ended: now the quiet channel closes
        for _ in range(100):
            if await channel_status(db) == "INACTIVE":
                break
            await asyncio.sleep(0.05)
        assert await channel_status(db) == "INACTIVE"
    await db.dispose()
