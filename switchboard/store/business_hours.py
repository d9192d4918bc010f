"""Reading a workspace's business hours, and which workspace's hours a Flex Flow or a Studio flow
answers to.

A Studio flow and a web Flex Flow are not inside a workspace, so their hours are those of the
workspace they hand conversations to: the Flex Flow's ``integration.workspace_sid`` (a ``task``
integration), else that of the workflow the Studio flow's first ``send-to-flex`` widget names,
else the account's first workspace (Flex's default one)."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from switchboard.store.models import BusinessHours, FlexFlow, RoutingWorkflow, StudioFlowRevision, Workspace


def schedule_data(row: BusinessHours) -> dict[str, Any]:
    """The row in ``workflows.business_hours.Schedule.from_data``'s shape."""
    return {
        "time_zone": row.time_zone,
        "weekly_hours": json.loads(row.weekly_hours_json),
        "holidays": json.loads(row.holidays_json),
        "away_message": row.away_message,
        "enabled": row.enabled,
    }


async def workspace_schedule(session: AsyncSession, workspace_sid: str | None) -> dict[str, Any] | None:
    """The workspace's schedule as plain data; None when it has none (always open)."""
    row = None if workspace_sid is None else await session.get(BusinessHours, workspace_sid)
    return None if row is None else schedule_data(row)


def send_to_flex_workflow(definition_json: str) -> str | None:
    """The workflow SID the first ``send-to-flex`` widget of a Studio definition names (by
    state order), if any and not a template."""
    try:
        states = json.loads(definition_json).get("states") or []
    except (ValueError, AttributeError):
        return None
    for state in states:
        if isinstance(state, dict) and state.get("type") == "send-to-flex":
            workflow = (state.get("properties") or {}).get("workflow")
            if isinstance(workflow, str) and workflow.startswith("WW"):
                return workflow
    return None


async def _first_workspace(session: AsyncSession) -> str | None:
    query = select(Workspace.sid).order_by(col(Workspace.date_created), col(Workspace.sid)).limit(1)
    return (await session.exec(query)).first()


async def studio_flow_workspace(session: AsyncSession, definition_json: str) -> str | None:
    """The workspace whose hours a Studio flow's revision reads (see the module's doc)."""
    workflow_sid = send_to_flex_workflow(definition_json)
    routing = None if workflow_sid is None else await session.get(RoutingWorkflow, workflow_sid)
    return routing.workspace_sid if routing is not None else await _first_workspace(session)


async def flex_flow_workspace(session: AsyncSession, flow: FlexFlow) -> str | None:
    """The workspace whose hours a Flex Flow's customers see (see the module's doc)."""
    integration: dict[str, Any] = json.loads(flow.integration_json or "{}")
    workspace_sid = integration.get("workspace_sid")
    if isinstance(workspace_sid, str) and workspace_sid:
        return workspace_sid
    flow_sid = integration.get("flow_sid")
    if flow.integration_type == "studio" and isinstance(flow_sid, str):
        query = (
            select(StudioFlowRevision.definition_json)
            .where(StudioFlowRevision.flow_sid == flow_sid)
            .order_by(col(StudioFlowRevision.revision).desc())
            .limit(1)
        )
        definition = (await session.exec(query)).first()
        if definition is not None:
            return await studio_flow_workspace(session, definition)
    return await _first_workspace(session)
