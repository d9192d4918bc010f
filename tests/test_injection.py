"""Text a customer chooses (a web chat name, an SMS or custom sender, a message body) lands in
task attributes and JSON bodies as a value, never as JSON structure: the default "Messaging Flow"
builds its attributes with ``to_json``, a flow that still pastes values into quoted strings (as
Twilio's exports do) gets them escaped, and an unmodified old default flow is upgraded."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

from api.webhooks.custom import signature_for
from switchboard.settings import Settings
from switchboard.store.db import Database, create_tables
from switchboard.store.defaults import (
    LEGACY_MESSAGING_FLOW_ATTRIBUTES,
    ensure_flex_defaults,
    messaging_flow_definition,
    plan_flex_defaults,
)
from switchboard.store.models import StudioFlow, StudioFlowRevision
from tests.helpers.flows import create_flow, ended, sms_flex_flow
from tests.helpers.messages import text
from tests.helpers.recording import RecordingServer, Reply
from tests.helpers.sockets import as_customer, command, event, frame, open_session
from tests.helpers.stack import Stack, StackFactory, eventually, new_phone, test_settings
from workflows.studio.templates import render, render_json

# Closes the JSON string it is pasted into, adds a key, and reopens one for the closing quote.
EVE = 'Eve", "vip": true, "x": "'
# Ends a bare value, adds a key, and leaves a backslash to eat the closing quote.
HOSTILE_BODY = '1, "admin": true, "y": "\\'
SECRET = secrets.token_hex(16)


@pytest.fixture(scope="module")
def guarded(make_stack: StackFactory) -> Stack:
    return make_stack(custom_webhook_secret=SECRET)


def default_tasks(stack: Stack) -> list[dict[str, Any]]:
    workspace = plan_flex_defaults(stack.settings).defaults.workspace_sid
    tasks = stack.twilio().taskrouter.v1.workspaces(workspace).tasks.list()
    return [json.loads(task.attributes) for task in tasks]


def task_of(stack: Stack, channel_sid: str) -> dict[str, Any]:
    """The attributes of the default flow's task for ``channel_sid``, fetched over REST."""

    def made() -> dict[str, Any]:
        [attributes] = [a for a in default_tasks(stack) if a.get("channelSid") == channel_sid]
        return attributes

    return eventually(made, timeout=60)


def only_channel_of(stack: Stack, service_sid: str, address: str) -> str:
    def opened() -> str:
        with stack.http() as http:
            channels = http.get(f"/v2/Services/{service_sid}/Channels", params={"PageSize": 1000}).json()["channels"]
        [channel] = [c for c in channels if json.loads(c["attributes"]).get("from") == address]
        return str(channel["sid"])

    return eventually(opened, timeout=60)


def test_a_web_customers_name_is_the_tasks_name_and_adds_no_attribute(guarded: Stack) -> None:
    session = open_session(guarded, EVE)

    async def chat() -> None:
        async with as_customer(guarded, session["token"]) as ws:
            await frame(ws, lambda f: f["type"] == "ready")
            sent = await command(ws, "c1", "send_message", body="hello", key="k-1")
            await frame(ws, event("message", sid=sent["sid"]))

    asyncio.run(chat())
    attributes = task_of(guarded, session["channel_sid"])
    assert attributes["name"] == EVE
    assert "vip" not in attributes and "x" not in attributes
    assert attributes["channelType"] == "web"


def test_an_sms_sender_is_the_tasks_name_and_adds_no_attribute(guarded: Stack) -> None:
    defaults = plan_flex_defaults(guarded.settings).defaults
    sender = EVE + new_phone()  # a fresh sender: a fresh channel
    with guarded.http() as http:
        text(guarded, http, guarded.settings.flex_sms_number, sender, "hello")
    attributes = task_of(guarded, only_channel_of(guarded, defaults.chat_service_sid, sender))
    assert attributes["name"] == sender
    assert "vip" not in attributes and "x" not in attributes


def test_a_custom_channels_sender_is_the_tasks_name_and_adds_no_attribute(guarded: Stack) -> None:
    defaults = plan_flex_defaults(guarded.settings).defaults
    sender = EVE + new_phone()
    with guarded.http() as http:
        flow = guarded.create_flex_flow(
            http,
            defaults.chat_service_sid,
            ChannelType="custom",
            ContactIdentity="kiosk-" + new_phone(),
            IntegrationType="studio",
            **{"Integration.FlowSid": defaults.studio_flow_sid},
        )
    raw = json.dumps({"id": "m-1", "from": sender, "body": "hello"}).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Switchboard-Timestamp": timestamp,
        "X-Switchboard-Signature": signature_for(SECRET, timestamp, raw),
    }
    response = httpx.post(f"{guarded.url}/webhooks/custom/{flow['sid']}", content=raw, headers=headers)
    assert response.status_code == 204, response.text
    attributes = task_of(guarded, only_channel_of(guarded, defaults.chat_service_sid, sender))
    assert attributes["name"] == sender
    assert "vip" not in attributes and "x" not in attributes


def pasting_flow(workflow_sid: str, task_channel_sid: str, lookup_url: str) -> dict[str, Any]:
    """A flow as Twilio's console exports them: values pasted into quoted JSON strings."""
    return {
        "initial_state": "Trigger",
        "states": [
            {"name": "Trigger", "type": "trigger", "transitions": [{"event": "incomingMessage", "next": "lookup"}]},
            {
                "name": "lookup",
                "type": "make-http-request",
                "transitions": [{"event": "success", "next": "agent"}, {"event": "failed", "next": "agent"}],
                "properties": {
                    "method": "POST",
                    "url": lookup_url,
                    "content_type": "application/json",
                    "body": '{"from": "{{trigger.message.From}}", "text": "{{trigger.message.Body}}", "n": {{trigger.message.Body}}}',
                },
            },
            {
                "name": "agent",
                "type": "send-to-flex",
                "transitions": [{"event": "callComplete"}, {"event": "failedToEnqueue"}],
                "properties": {
                    "workflow": workflow_sid,
                    "channel": task_channel_sid,
                    "attributes": '{"name": "{{trigger.message.ChannelAttributes.from}}", '
                    '"said": "{{trigger.message.Body}}", "topic": {{trigger.message.Body}}, '
                    '"channelSid": "{{trigger.message.ChannelSid}}"}',
                },
            },
        ],
    }


def test_values_pasted_into_a_flows_json_stay_values(guarded: Stack, outside: RecordingServer) -> None:
    """An exported flow's quoted ``"{{...}}"`` strings and bare ``{{...}}`` values: the customer's
    text is escaped into the string, and a bare value that is not one JSON value becomes a string."""
    outside.script("/lookup", Reply(200, {"ok": True}))
    defaults = plan_flex_defaults(guarded.settings).defaults
    flow_sid = create_flow(
        guarded, pasting_flow(defaults.workflow_sid, defaults.chat_task_channel_sid, f"{outside.url}/lookup")
    )
    sender = EVE + new_phone()
    body = HOSTILE_BODY
    with guarded.http() as http:
        service, number = sms_flex_flow(guarded, http, flow_sid)
        text(guarded, http, number, sender, body)
    attributes = task_of(guarded, only_channel_of(guarded, service, sender))
    assert (attributes["name"], attributes["said"], attributes["topic"]) == (sender, body, body)
    assert not {"vip", "x", "admin", "y"} & set(attributes)
    [looked_up] = outside.received("/lookup")
    assert json.loads(looked_up.body) == {"from": sender, "text": body, "n": body}


def test_a_flow_may_still_put_json_values_where_values_go(guarded: Stack, outside: RecordingServer) -> None:
    """``to_json`` (Studio's name) and ``json`` (Shopify's) output stays structure where a value goes."""
    outside.script("/orders", Reply(201, {"id": 7}))
    definition = {
        "initial_state": "Trigger",
        "states": [
            {"name": "Trigger", "type": "trigger", "transitions": [{"event": "incomingRequest", "next": "post"}]},
            {
                "name": "post",
                "type": "make-http-request",
                "transitions": [{"event": "success"}, {"event": "failed"}],
                "properties": {
                    "method": "POST",
                    "url": f"{outside.url}/orders",
                    "content_type": "application/json",
                    "body": '{"data": {{flow.data | to_json}}, "basket": {{flow.data.basket | json}}, '
                    '"total": {{flow.data.total}}, "items": [{% for item in flow.data.basket %}'
                    '"{{item}}"{% unless forloop.last %}, {% endunless %}{% endfor %}]}',
                },
            },
        ],
    }
    flow_sid = create_flow(guarded, definition)
    with guarded.http() as http:
        _service, number = sms_flex_flow(guarded, http, flow_sid)
    basket = ["tea", 'x"]}']
    execution = (
        guarded.twilio()
        .studio.v2.flows(flow_sid)
        .executions.create(to=new_phone(), from_=number, parameters={"basket": basket, "total": 3.5})
    )
    eventually(lambda: ended(guarded, flow_sid, execution.sid))
    [order] = outside.received("/orders")
    assert json.loads(order.body) == {
        "data": {"basket": basket, "total": 3.5},
        "basket": basket,
        "total": 3.5,
        "items": basket,
    }


# Each: a JSON template, and what it must parse to with ``n`` = EVE and ``b`` = a hostile body.
JSON_TEMPLATES: list[tuple[str, Any]] = [
    ('{"name": "{{n}}", "said": "{{b}}"}', {"name": EVE, "said": HOSTILE_BODY}),
    ('{"v": {{b}}, "u": {{missing}}, "t": {{t}}, "ok": {{ok}}}', {"v": HOSTILE_BODY, "u": "", "t": 3.5, "ok": True}),
    ('{"n": {{n | to_json}}, "l": {{l | json}}}', {"n": EVE, "l": ["a", 'x"]}']}),
    ('{ {{n}}: 1, "{{n}}x": 2 }', {EVE: 1, EVE + "x": 2}),
    ('{"e": "{% echo n %}", "f": {% echo b %}, "g": "{% liquid echo n %}"}', {"e": EVE, "f": HOSTILE_BODY, "g": EVE}),
    ('{"a": "\\{{n}}"}', {"a": "\\" + EVE}),  # the author's backslash escapes nothing of ours
    ('{% capture c %}"{{n}}"{% endcapture %}{"c": {{c}}}', {"c": EVE}),
    ('{"x": {% ifchanged %}"{{n}}"{% endifchanged %}}', {"x": EVE}),
    ('[{% for i in l %}"{{i}}"{% unless forloop.last %}, {% endunless %}{% endfor %}]', ["a", 'x"]}']),
    ('{"nan": {{nan}}, "deep": {{deep}}}', {"nan": "NaN", "deep": "[" * 100_000}),
    ('{"sep": "{{sep}}"}', {"sep": "\u2028\n\t\u0000"}),
]


@pytest.mark.parametrize(("template", "expected"), JSON_TEMPLATES)
def test_every_output_of_a_json_template_is_one_json_value(template: str, expected: Any) -> None:
    context = {
        "n": EVE,
        "b": HOSTILE_BODY,
        "t": 3.5,
        "ok": True,
        "l": ["a", 'x"]}'],
        "nan": "NaN",
        "deep": "[" * 100_000,
        "sep": "\u2028\n\t\u0000",
    }
    assert json.loads(render_json(template, context)) == expected


def test_a_json_template_without_hostile_values_renders_as_plain_liquid_does() -> None:
    template = '{"name": "{{n}}", "data": {{d | to_json}}, "n": {{k}}}'
    context = {"n": "Ada", "d": {"a": [1, None]}, "k": 2}
    assert render_json(template, context) == render(template, context)


# --- the default flow, and its upgrade in stores that hold the old one -------------------------


def legacy_definition(workflow_sid: str, task_channel_sid: str) -> dict[str, Any]:
    return messaging_flow_definition(workflow_sid, task_channel_sid, LEGACY_MESSAGING_FLOW_ATTRIBUTES)


def test_the_default_flow_builds_its_attributes_with_to_json() -> None:
    definition = messaging_flow_definition("WW" + "1" * 32, "TC" + "2" * 32)
    attributes = definition["states"][1]["properties"]["attributes"]
    assert '"{{' not in attributes  # nothing pasted into a quoted string
    for name in ("trigger.message.ChannelAttributes.from", "trigger.message.ChannelSid"):
        assert f"{{{{{name} | to_json}}}}" in attributes


@pytest.fixture
async def old_store(tmp_path: Path, empty_database_url: str) -> Settings:
    """A store made by an earlier Switchboard (SQLite or PostgreSQL): the defaults with the old
    "Messaging Flow"."""
    settings = test_settings(tmp_path, database_url=empty_database_url)
    db = Database(settings.resolved_database_url)
    try:
        await create_tables(db.engine)
        defaults = await ensure_flex_defaults(db, settings)
        old = legacy_definition(defaults.workflow_sid, defaults.chat_task_channel_sid)
        async with db.write_session() as session:
            revision = await session.get(StudioFlowRevision, (defaults.studio_flow_sid, 1))
            assert revision is not None
            revision.definition_json = json.dumps(old)
            session.add(revision)
            await session.commit()
    finally:
        await db.dispose()
    return settings


async def revisions(db: Database, flow_sid: str) -> tuple[StudioFlow, list[StudioFlowRevision]]:
    async with db.session() as session:
        flow = await session.get(StudioFlow, flow_sid)
        assert flow is not None
        query = select(StudioFlowRevision).where(StudioFlowRevision.flow_sid == flow_sid)
        return flow, sorted((await session.exec(query)).all(), key=lambda r: r.revision)


async def test_an_unmodified_old_default_flow_is_upgraded_once(old_store: Settings) -> None:
    db = Database(old_store.resolved_database_url)
    try:
        defaults = plan_flex_defaults(old_store).defaults
        await asyncio.gather(*(ensure_flex_defaults(db, old_store) for _ in range(3)))
        await ensure_flex_defaults(db, old_store)
        flow, kept = await revisions(db, defaults.studio_flow_sid)
        assert flow.revision == 2 and [r.revision for r in kept] == [1, 2]
        new = messaging_flow_definition(defaults.workflow_sid, defaults.chat_task_channel_sid)
        assert json.loads(kept[1].definition_json) == new
        assert kept[1].valid and kept[1].status == "published" and kept[1].commit_message
        # The old revision stays as it was: executions that started on it keep it.
        assert json.loads(kept[0].definition_json) == legacy_definition(
            defaults.workflow_sid, defaults.chat_task_channel_sid
        )
    finally:
        await db.dispose()


async def test_an_operators_changed_default_flow_is_left_alone(old_store: Settings) -> None:
    db = Database(old_store.resolved_database_url)
    try:
        defaults = plan_flex_defaults(old_store).defaults
        changed = legacy_definition(defaults.workflow_sid, defaults.chat_task_channel_sid)
        changed["description"] = "ours now"
        async with db.write_session() as session:
            revision = await session.get(StudioFlowRevision, (defaults.studio_flow_sid, 1))
            assert revision is not None
            revision.definition_json = json.dumps(changed)
            session.add(revision)
            await session.commit()
        await ensure_flex_defaults(db, old_store)
        flow, kept = await revisions(db, defaults.studio_flow_sid)
        assert flow.revision == 1 and len(kept) == 1
        assert json.loads(kept[0].definition_json) == changed
    finally:
        await db.dispose()
