"""Response models of Studio v2: flows, their revisions, executions and their steps, in the key
order the routes render them."""

from __future__ import annotations

from typing import Any

from api.schemas.resources import Resource
from api.twilio_shape import PageMeta


class FlowLinks(Resource):
    test_users: str
    revisions: str
    executions: str


class Flow(Resource):
    """A flow; ``definition``, ``commit_message``, ``valid``, ``errors`` and ``warnings`` are its
    latest revision's, null in lists (as Twilio's)."""

    sid: str
    account_sid: str
    author_sid: str | None
    friendly_name: str
    definition: dict[str, Any] | None
    status: str
    revision: int
    commit_message: str | None
    valid: bool | None
    errors: list[dict[str, Any]] | None
    warnings: list[dict[str, Any]] | None
    webhook_url: str
    date_created: str
    date_updated: str
    url: str
    links: FlowLinks


class FlowPage(Resource):
    flows: list[Flow]
    meta: PageMeta


class FlowValidation(Resource):
    valid: bool


class FlowRevision(Resource):
    """A revision; ``definition``, ``valid`` and ``errors`` are null in lists."""

    sid: str
    account_sid: str
    author_sid: str | None
    friendly_name: str
    definition: dict[str, Any] | None
    status: str
    revision: int
    commit_message: str | None
    valid: bool | None
    errors: list[dict[str, Any]] | None
    date_created: str
    date_updated: str
    url: str


class FlowRevisionPage(Resource):
    revisions: list[FlowRevision]
    meta: PageMeta


class ExecutionLinks(Resource):
    steps: str
    execution_context: str


class Execution(Resource):
    sid: str
    account_sid: str
    flow_sid: str
    contact_sid: str | None
    contact_channel_address: str
    context: dict[str, Any]
    flow_version: int
    status: str
    initiated_by: str | None
    date_created: str
    date_updated: str
    url: str
    links: ExecutionLinks


class ExecutionPage(Resource):
    executions: list[Execution]
    meta: PageMeta


class ExecutionContext(Resource):
    account_sid: str
    context: dict[str, Any]
    flow_sid: str
    execution_sid: str
    url: str


class StepLinks(Resource):
    step_context: str


class Step(Resource):
    sid: str
    account_sid: str
    flow_sid: str
    execution_sid: str
    parent_step_sid: str | None
    name: str
    context: dict[str, Any]
    transitioned_from: str
    transitioned_to: str
    # The widget type of the state the step left (null when the revision has no such state).
    type: str | None
    date_created: str
    date_updated: str
    url: str
    links: StepLinks


class StepPage(Resource):
    steps: list[Step]
    meta: PageMeta


class StepContext(Resource):
    account_sid: str
    context: dict[str, Any]
    execution_sid: str
    flow_sid: str
    step_sid: str
    url: str
