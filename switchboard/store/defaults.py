"""What Twilio creates for you: the activities and task channels of every new TaskRouter workspace,
and the resources of a new Flex project (chat service, workspace, queue, workflow, Studio flow and
the two Flex Flows), created once per store.

The Flex defaults get SIDs derived from the account SID (uuid5), so every API process computes the
same ones and concurrent starts insert each row once: a loser's insert fails on the primary key
and its retry finds the rows in place. They are created the first time the API starts on a store
without them (the Flex Chat Service is the marker) and are the operator's afterwards: changed or
deleted ones are not put back. The one exception is a "Messaging Flow" still exactly as an earlier
version shipped it, which pasted the customer's name into its task attributes: it gets the current
definition as a new revision (``upgrade_messaging_flow``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from switchboard.settings import Settings
from switchboard.store.db import Database
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
from switchboard.store.models.base import utcnow
from workflows import sids
from workflows.studio.definition import parse_definition

log = logging.getLogger(__name__)

# Twilio's activities of a new workspace: (friendly_name, available). The first is the default
# activity of new workers and the one a worker falls to when a reservation times out.
WORKSPACE_ACTIVITIES: tuple[tuple[str, bool], ...] = (
    ("Offline", False),
    ("Available", True),
    ("Unavailable", False),
    ("Break", False),
)
# Twilio's task channels of a new workspace: (friendly_name, unique_name).
WORKSPACE_TASK_CHANNELS: tuple[tuple[str, str], ...] = (
    ("Default", "default"),
    ("Voice", "voice"),
    ("SMS", "sms"),
    ("Chat", "chat"),
    ("Video", "video"),
    ("Email", "email"),
)
EVERYONE = "1==1"

# (prefix, key) -> SID: random for REST creations, derived for the Flex defaults.
SidMaker = Callable[[str, str], str]


def random_sid(prefix: str, _key: str) -> str:
    return sids.new_sid(prefix)


def workflow_configuration(queue_sid: str, filters: list[dict[str, Any]] | None = None) -> str:
    return json.dumps({"task_routing": {"filters": filters or [], "default_filter": {"queue": queue_sid}}})


@dataclass
class NewWorkspace:
    """A workspace with what Twilio creates alongside it, ready to be added to a session."""

    workspace: Workspace
    activities: list[WorkspaceActivity]
    task_channels: list[TaskChannel]
    task_queues: list[TaskQueue] = field(default_factory=list)
    workflows: list[RoutingWorkflow] = field(default_factory=list)

    def rows(self) -> list[SQLModel]:
        return [self.workspace, *self.activities, *self.task_channels, *self.task_queues, *self.workflows]

    def activity(self, friendly_name: str) -> WorkspaceActivity:
        return next(a for a in self.activities if a.friendly_name == friendly_name)

    def task_channel(self, unique_name: str) -> TaskChannel:
        return next(c for c in self.task_channels if c.unique_name == unique_name)


def new_workspace(workspace: Workspace, make_sid: SidMaker = random_sid) -> NewWorkspace:
    """Twilio's default activities (Offline the default and timeout activity) and task channels for
    ``workspace``; with template ``FIFO`` also its "Sample Queue" and "Default Fifo Workflow"."""
    ws = workspace.sid
    activities = [
        WorkspaceActivity(
            sid=make_sid(sids.ACTIVITY, f"{ws}/activity/{name}"),
            workspace_sid=ws,
            friendly_name=name,
            available=available,
        )
        for name, available in WORKSPACE_ACTIVITIES
    ]
    channels = [
        TaskChannel(
            sid=make_sid(sids.TASK_CHANNEL, f"{ws}/task-channel/{unique}"),
            workspace_sid=ws,
            friendly_name=name,
            unique_name=unique,
            channel_optimized_routing=False,
        )
        for name, unique in WORKSPACE_TASK_CHANNELS
    ]
    workspace.default_activity_sid = workspace.timeout_activity_sid = activities[0].sid
    created = NewWorkspace(workspace, activities, channels)
    if workspace.template == "FIFO":
        queue = TaskQueue(
            sid=make_sid(sids.TASK_QUEUE, f"{ws}/task-queue/Sample Queue"),
            workspace_sid=ws,
            friendly_name="Sample Queue",
            target_workers=EVERYONE,
        )
        created.task_queues.append(queue)
        created.workflows.append(
            RoutingWorkflow(
                sid=make_sid(sids.WORKFLOW, f"{ws}/workflow/Default Fifo Workflow"),
                workspace_sid=ws,
                friendly_name="Default Fifo Workflow",
                configuration=workflow_configuration(queue.sid),
            )
        )
    return created


# --- the Flex defaults ------------------------------------------------------------------------

FLEX_NAMESPACE = uuid.UUID("6b1f0c9e-3f59-5a8e-9d0c-5f1e6a2b7c41")
CHAT_SERVICE_NAME = "Flex Chat Service"
WORKSPACE_NAME = "Flex Task Assignment"
QUEUE_NAME = "Everyone"
WORKFLOW_NAME = "Assign to Anyone"
STUDIO_FLOW_NAME = "Messaging Flow"
SMS_FLEX_FLOW_NAME = "Flex Messaging Channel"
WEB_FLEX_FLOW_NAME = "Flex Web Channel"
ATTEMPTS = 6


@dataclass(frozen=True)
class FlexDefaults:
    chat_service_sid: str
    workspace_sid: str
    offline_activity_sid: str
    available_activity_sid: str
    chat_task_channel_sid: str
    task_queue_sid: str
    workflow_sid: str
    studio_flow_sid: str
    sms_flex_flow_sid: str
    web_flex_flow_sid: str
    # Whether this call created them (False: they were in place).
    created: bool = field(default=False, compare=False)

    def describe(self) -> str:
        return ", ".join(f"{name}={value}" for name, value in vars(self).items() if name.endswith("_sid"))


def flex_sid_maker(account_sid: str) -> SidMaker:
    def make(prefix: str, key: str) -> str:
        return sids.sid_from_uuid(prefix, uuid.uuid5(FLEX_NAMESPACE, f"{account_sid}/{key}"))

    return make


# The send-to-flex attributes of the "Messaging Flow". Each value goes through ``to_json``, never
# into a quoted string: the customer chooses the name (a web chat's name, an SMS or custom
# channel's sender), and ``Eve", "vip": true, "x": "`` must stay a name.
MESSAGING_FLOW_ATTRIBUTES = (
    '{"name": {{trigger.message.ChannelAttributes.from | to_json}}, '
    '"channelType": {{trigger.message.ChannelAttributes.channel_type | to_json}}, '
    '"channelSid": {{trigger.message.ChannelSid | to_json}}}'
)
# ...and as earlier versions shipped them (Flex's own text), pasting values into quoted strings.
# A store whose "Messaging Flow" still has exactly that definition is upgraded on start.
LEGACY_MESSAGING_FLOW_ATTRIBUTES = json.dumps(
    {
        "name": "{{trigger.message.ChannelAttributes.from}}",
        "channelType": "{{trigger.message.ChannelAttributes.channel_type}}",
        "channelSid": "{{trigger.message.ChannelSid}}",
    }
)
UPGRADE_COMMIT_MESSAGE = "Task attributes built with to_json: a customer's name can no longer add attributes"


def messaging_flow_definition(
    workflow_sid: str, task_channel_sid: str, attributes: str = MESSAGING_FLOW_ATTRIBUTES
) -> dict[str, Any]:
    """Flex's "Messaging Flow": every incoming message goes to an agent through the workflow."""
    return {
        "description": "Flex Messaging Flow",
        "states": [
            {
                "name": "Trigger",
                "type": "trigger",
                "transitions": [
                    {"next": "SendMessageToAgent", "event": "incomingMessage"},
                    {"event": "incomingCall"},
                    {"event": "incomingRequest"},
                    {"event": "incomingParent"},
                ],
                "properties": {"offset": {"x": 0, "y": -10}},
            },
            {
                "name": "SendMessageToAgent",
                "type": "send-to-flex",
                "transitions": [{"event": "callComplete"}, {"event": "failedToEnqueue"}, {"event": "callFailure"}],
                "properties": {
                    "offset": {"x": 30, "y": 360},
                    "workflow": workflow_sid,
                    "channel": task_channel_sid,
                    "attributes": attributes,
                },
            },
        ],
        "initial_state": "Trigger",
        "flags": {"allow_concurrent_calls": True},
    }


@dataclass
class FlexPlan:
    defaults: FlexDefaults
    rows: list[SQLModel]


def plan_flex_defaults(settings: Settings) -> FlexPlan:
    """Fresh rows of the Flex defaults (fresh per attempt: a rolled-back session keeps none)."""
    make = flex_sid_maker(settings.account_sid)
    service = Service(sid=make(sids.SERVICE, "chat-service"), friendly_name=CHAT_SERVICE_NAME)
    workspace = new_workspace(
        Workspace(sid=make(sids.WORKSPACE, "workspace"), friendly_name=WORKSPACE_NAME, template="NONE"), make
    )
    ws = workspace.workspace.sid
    queue = TaskQueue(
        sid=make(sids.TASK_QUEUE, f"{ws}/task-queue/{QUEUE_NAME}"),
        workspace_sid=ws,
        friendly_name=QUEUE_NAME,
        target_workers=EVERYONE,
    )
    routing = RoutingWorkflow(
        sid=make(sids.WORKFLOW, f"{ws}/workflow/{WORKFLOW_NAME}"),
        workspace_sid=ws,
        friendly_name=WORKFLOW_NAME,
        configuration=workflow_configuration(
            queue.sid, [{"filter_friendly_name": QUEUE_NAME, "expression": EVERYONE, "targets": [{"queue": queue.sid}]}]
        ),
    )
    workspace.task_queues.append(queue)
    workspace.workflows.append(routing)
    chat = workspace.task_channel("chat")
    definition = messaging_flow_definition(routing.sid, chat.sid)
    checked = parse_definition(definition)
    flow = StudioFlow(
        sid=make(sids.STUDIO_FLOW, "studio-flow/messaging"), friendly_name=STUDIO_FLOW_NAME, status="published"
    )
    revision = StudioFlowRevision(
        flow_sid=flow.sid,
        revision=1,
        friendly_name=STUDIO_FLOW_NAME,
        status="published",
        definition_json=json.dumps(definition),
        valid=checked.valid,
        errors_json=json.dumps([p.to_json() for p in checked.errors]),
        warnings_json=json.dumps([p.to_json() for p in checked.warnings]),
    )
    integration = json.dumps({"flow_sid": flow.sid, "retry_count": 3})
    sms = FlexFlow(
        sid=make(sids.FLEX_FLOW, "flex-flow/sms"),
        friendly_name=SMS_FLEX_FLOW_NAME,
        chat_service_sid=service.sid,
        channel_type="sms",
        contact_identity=settings.flex_sms_number,
        enabled=True,
        integration_type="studio",
        integration_json=integration,
    )
    web = FlexFlow(
        sid=make(sids.FLEX_FLOW, "flex-flow/web"),
        friendly_name=WEB_FLEX_FLOW_NAME,
        chat_service_sid=service.sid,
        channel_type="web",
        enabled=True,
        integration_type="studio",
        integration_json=integration,
    )
    defaults = FlexDefaults(
        chat_service_sid=service.sid,
        workspace_sid=ws,
        offline_activity_sid=workspace.activity("Offline").sid,
        available_activity_sid=workspace.activity("Available").sid,
        chat_task_channel_sid=chat.sid,
        task_queue_sid=queue.sid,
        workflow_sid=routing.sid,
        studio_flow_sid=flow.sid,
        sms_flex_flow_sid=sms.sid,
        web_flex_flow_sid=web.sid,
    )
    # In dependency order: each row after the rows it refers to.
    return FlexPlan(defaults, [service, *workspace.rows(), flow, revision, sms, web])


async def upgrade_messaging_flow(session: AsyncSession, plan: FlexPlan) -> bool:
    """Give a "Messaging Flow" that still has the definition an earlier version shipped (pasting
    the customer's name into its task attributes) the current one, as a new revision; one the
    operator changed is theirs and stays. Executions that started on the old revision keep it.
    True when it made the revision (the caller commits)."""
    defaults = plan.defaults
    flow = await session.get(StudioFlow, defaults.studio_flow_sid)
    if flow is None:
        return False
    latest = await session.get(StudioFlowRevision, (flow.sid, flow.revision))
    legacy = messaging_flow_definition(
        defaults.workflow_sid, defaults.chat_task_channel_sid, LEGACY_MESSAGING_FLOW_ATTRIBUTES
    )
    if latest is None or _parsed(latest.definition_json) != legacy:
        return False
    [planned] = [row for row in plan.rows if isinstance(row, StudioFlowRevision)]
    flow.revision += 1
    flow.date_updated = utcnow()
    session.add(flow)
    session.add(
        StudioFlowRevision(
            flow_sid=flow.sid,
            revision=flow.revision,
            friendly_name=flow.friendly_name,
            status=flow.status,
            commit_message=UPGRADE_COMMIT_MESSAGE,
            definition_json=planned.definition_json,
            valid=planned.valid,
            errors_json=planned.errors_json,
            warnings_json=planned.warnings_json,
        )
    )
    # A concurrent upgrade inserted this revision too: the caller's retry finds it in place.
    await session.flush()
    log.info("Upgraded the default %r to revision %d: %s", flow.friendly_name, flow.revision, UPGRADE_COMMIT_MESSAGE)
    return True


def _parsed(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


async def ensure_flex_defaults(db: Database, settings: Settings) -> FlexDefaults:
    """Create the Flex defaults unless they are in place; safe to run from several processes at
    once. Returns their SIDs."""
    failure: Exception | None = None
    for attempt in range(ATTEMPTS):
        plan = plan_flex_defaults(settings)
        try:
            async with db.write_session() as session:
                if await session.get(Service, plan.defaults.chat_service_sid) is not None:
                    if await upgrade_messaging_flow(session, plan):
                        await session.commit()
                    return plan.defaults
                for row in plan.rows:
                    key = tuple(sa_inspect(type(row)).primary_key_from_instance(row))
                    if await session.get(type(row), key) is not None:
                        continue
                    if isinstance(row, FlexFlow) and row.contact_identity:
                        clash = select(FlexFlow.sid).where(
                            FlexFlow.channel_type == row.channel_type,
                            FlexFlow.contact_identity == row.contact_identity,
                            col(FlexFlow.enabled).is_(True),
                        )
                        other = (await session.exec(clash)).first()
                        if other is not None:
                            log.warning(
                                "Flex Flow %s already serves %s address %s; the default %r is created disabled",
                                other,
                                row.channel_type,
                                row.contact_identity,
                                row.friendly_name,
                            )
                            row.enabled = False
                    session.add(row)
                    await session.flush()
                await session.commit()
            return replace(plan.defaults, created=True)
        except (IntegrityError, OperationalError) as exc:
            # Another process inserted them first (or holds SQLite's write lock): look again.
            failure = exc
            await asyncio.sleep(0.05 * 2**attempt)
    assert failure is not None
    raise failure
