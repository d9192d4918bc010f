"""What a new Flex project has exists once the API has started, is readable through the official
client, and is created once however many processes start at the same time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import SQLModel, select

from api.routes import studio
from switchboard.settings import Settings
from switchboard.store.db import Database, create_tables
from switchboard.store.defaults import ensure_flex_defaults, messaging_flow_definition, plan_flex_defaults
from switchboard.store.models import (
    FlexFlow,
    RoutingWorkflow,
    Service,
    StudioFlow,
    StudioFlowRevision,
    TaskChannel,
    TaskQueue,
    Workspace,
    WorkspaceActivity,
)
from tests.helpers.stack import Stack, test_settings
from workflows.studio.definition import parse_definition
from workflows.studio.templates import render_json

# The store's tests: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.store_backends

ONE_EACH: dict[type[SQLModel], int] = {
    Service: 1,
    Workspace: 1,
    WorkspaceActivity: 4,
    TaskChannel: 6,
    TaskQueue: 1,
    RoutingWorkflow: 1,
    StudioFlow: 1,
    StudioFlowRevision: 1,
    FlexFlow: 2,
}


def has_route(path: str) -> bool:
    return any(getattr(route, "path", None) == path for route in studio.router.routes)


async def read_flow(stack: Stack, flow_sid: str) -> tuple[StudioFlow | None, StudioFlowRevision | None]:
    db = Database(stack.settings.resolved_database_url)
    try:
        async with db.session() as session:
            return await session.get(StudioFlow, flow_sid), await session.get(StudioFlowRevision, (flow_sid, 1))
    finally:
        await db.dispose()


def test_the_defaults_are_readable_through_the_client(stack: Stack) -> None:
    defaults = plan_flex_defaults(stack.settings).defaults  # the SIDs are derived from the account
    client = stack.twilio()
    client.taskrouter.base_url = stack.url

    assert client.chat.v2.services(defaults.chat_service_sid).fetch().friendly_name == "Flex Chat Service"

    workspace = client.taskrouter.v1.workspaces(defaults.workspace_sid)
    ws = workspace.fetch()
    assert ws.friendly_name == "Flex Task Assignment"
    assert ws.default_activity_sid == ws.timeout_activity_sid == defaults.offline_activity_sid
    assert ws.default_activity_name == "Offline"
    activities = {a.friendly_name: a.available for a in workspace.activities.list()}
    assert activities == {"Offline": False, "Available": True, "Unavailable": False, "Break": False}
    channels = {c.unique_name: c.sid for c in workspace.task_channels.list()}
    assert set(channels) == {"default", "voice", "sms", "chat", "video", "email"}
    assert channels["chat"] == defaults.chat_task_channel_sid
    (queue,) = workspace.task_queues.list()
    assert (queue.sid, queue.friendly_name, queue.target_workers) == (defaults.task_queue_sid, "Everyone", "1==1")
    (routing,) = workspace.workflows.list()
    assert (routing.sid, routing.friendly_name) == (defaults.workflow_sid, "Assign to Anyone")
    task_routing = json.loads(routing.configuration)["task_routing"]
    assert task_routing["filters"][0]["targets"] == [{"queue": queue.sid}]
    assert task_routing["default_filter"] == {"queue": queue.sid}

    flows = {f.sid: f for f in client.flex_api.v1.flex_flow.list()}
    sms, web = flows[defaults.sms_flex_flow_sid], flows[defaults.web_flex_flow_sid]
    assert (sms.friendly_name, sms.channel_type, sms.contact_identity) == (
        "Flex Messaging Channel",
        "sms",
        "+15005550006",
    )
    assert (web.friendly_name, web.channel_type) == ("Flex Web Channel", "web")
    for flow in (sms, web):
        assert flow.enabled is True and flow.integration_type == "studio"
        assert flow.chat_service_sid == defaults.chat_service_sid
        assert flow.integration == {"flow_sid": defaults.studio_flow_sid, "retry_count": 3}

    row, revision = stack.call(lambda _client: read_flow(stack, defaults.studio_flow_sid))
    assert row is not None and revision is not None
    assert (row.friendly_name, row.status, row.revision) == ("Messaging Flow", "published", 1)
    definition = json.loads(revision.definition_json)
    assert definition == messaging_flow_definition(defaults.workflow_sid, defaults.chat_task_channel_sid)
    if has_route("/v2/Flows/{flow_sid}"):  # the Studio routes serve it too
        with stack.http() as http:
            response = http.get(f"/v2/Flows/{defaults.studio_flow_sid}")
            assert response.status_code == 200, response.text
            body = response.json()
            assert (body["friendly_name"], body["status"], body["revision"]) == ("Messaging Flow", "published", 1)
            served = body["definition"]
            assert (json.loads(served) if isinstance(served, str) else served) == definition


def test_the_messaging_flow_is_a_valid_studio_definition() -> None:
    workflow, channel = "WW" + "1" * 32, "TC" + "2" * 32
    definition = messaging_flow_definition(workflow, channel)
    checked = parse_definition(definition)
    assert checked.valid, [str(e) for e in checked.errors]
    assert checked.warnings == []
    assert checked.definition is not None
    trigger = checked.definition.states[checked.definition.initial_state]
    assert trigger.type == "trigger" and trigger.next_for("incomingMessage") == "SendMessageToAgent"
    widget = checked.definition.states["SendMessageToAgent"]
    assert widget.type == "send-to-flex"
    assert widget.properties["workflow"] == workflow and widget.properties["channel"] == channel
    assert isinstance(widget.properties["attributes"], str)  # a JSON template, as Flex writes it
    message = {"ChannelAttributes": {"from": "Ada", "channel_type": "web"}, "ChannelSid": "CH" + "3" * 32}
    rendered = render_json(widget.properties["attributes"], {"trigger": {"message": message}})
    assert json.loads(rendered) == {"name": "Ada", "channelType": "web", "channelSid": "CH" + "3" * 32}
    assert set(widget.properties["offset"]) == {"x", "y"}


async def counts(db: Database) -> dict[type[SQLModel], int]:
    found: dict[type[SQLModel], int] = {}
    async with db.session() as session:
        for model in ONE_EACH:
            found[model] = (await session.exec(select(func.count()).select_from(model))).one()
    return found


@pytest.fixture
async def sqlite_settings(tmp_path: Path) -> AsyncIterator[Settings]:
    settings = test_settings(tmp_path, database_url=f"sqlite+aiosqlite:///{tmp_path / 'defaults.db'}")
    db = Database(settings.resolved_database_url)
    await create_tables(db.engine)
    await db.dispose()
    yield settings


async def test_ensuring_twice_creates_each_thing_once(sqlite_settings: Settings) -> None:
    db = Database(sqlite_settings.resolved_database_url)
    try:
        first = await ensure_flex_defaults(db, sqlite_settings)
        second = await ensure_flex_defaults(db, sqlite_settings)
        assert first.created is True and second.created is False
        assert first == second == plan_flex_defaults(sqlite_settings).defaults
        assert await counts(db) == ONE_EACH
    finally:
        await db.dispose()


async def race(settings: Settings, processes: int = 3) -> None:
    """Several "processes" (each its own engine, so no shared lock) start at once."""
    dbs = [Database(settings.resolved_database_url) for _ in range(processes)]
    try:
        results = await asyncio.gather(*(ensure_flex_defaults(db, settings) for db in [*dbs, dbs[0]]))
        assert len({r for r in results}) == 1
        assert [r.created for r in results].count(True) == 1
        assert await counts(dbs[0]) == ONE_EACH
    finally:
        for db in dbs:
            await db.dispose()


async def test_concurrent_starts_create_each_thing_once_sqlite(sqlite_settings: Settings) -> None:
    await race(sqlite_settings)


async def test_concurrent_starts_create_each_thing_once_postgresql(tmp_path: Path, postgres_url: str) -> None:
    settings = test_settings(tmp_path, database_url=postgres_url)
    db = Database(settings.resolved_database_url)
    await create_tables(db.engine)
    await db.dispose()
    await race(settings)


async def test_an_address_already_served_gets_a_disabled_default(sqlite_settings: Settings) -> None:
    db = Database(sqlite_settings.resolved_database_url)
    try:
        async with db.write_session() as session:
            session.add(Service(sid="IS" + "a" * 32, friendly_name="mine"))
            await session.flush()
            mine: dict[str, Any] = {"chat_service_sid": "IS" + "a" * 32, "channel_type": "sms"}
            session.add(FlexFlow(sid="FO" + "a" * 32, friendly_name="mine", contact_identity="+15005550006", **mine))
            await session.commit()
        defaults = await ensure_flex_defaults(db, sqlite_settings)
        async with db.session() as session:
            sms = await session.get(FlexFlow, defaults.sms_flex_flow_sid)
            web = await session.get(FlexFlow, defaults.web_flex_flow_sid)
        assert sms is not None and sms.enabled is False
        assert web is not None and web.enabled is True
    finally:
        await db.dispose()
