"""Studio activities: loading a flow's revision and recording executions and their steps, so the
Studio REST API can show them. Each is one transaction and safe to retry (rows are keyed by SIDs
the workflow generated)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlmodel import col, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.store import finish_even_if_cancelled
from switchboard.store.business_hours import studio_flow_workspace, workspace_schedule
from switchboard.store.crypto import Cipher
from switchboard.store.db import Database
from switchboard.store.models import StudioExecution, StudioFlow, StudioFlowRevision, StudioStep, utcnow
from workflows.studio.messages import BeginExecution, EndExecution, LoadedFlow, LoadFlow, RecordStep


@dataclass
class StudioActivities:
    db: Database
    cipher: Cipher

    @activity.defn(name="load_flow")
    @finish_even_if_cancelled
    async def load_flow(self, req: LoadFlow) -> LoadedFlow:
        """The requested revision, else the one new executions run: the latest published
        revision, or the latest when the flow was never published."""
        async with self.db.session() as session:
            flow = await session.get(StudioFlow, req.flow_sid)
            if flow is None:
                raise ApplicationError(f"Studio flow {req.flow_sid} does not exist", non_retryable=True)
            query = select(StudioFlowRevision).where(StudioFlowRevision.flow_sid == req.flow_sid)
            if req.revision is not None:
                query = query.where(StudioFlowRevision.revision == req.revision)
            revisions = (await session.exec(query.order_by(col(StudioFlowRevision.revision).desc()))).all()
            if not revisions:
                raise ApplicationError(f"Studio flow {req.flow_sid} has no such revision", non_retryable=True)
            chosen = next((r for r in revisions if r.status == "published"), revisions[0])
            workspace_sid = await studio_flow_workspace(session, chosen.definition_json)
            hours = await workspace_schedule(session, workspace_sid)
            return LoadedFlow(flow.sid, chosen.revision, flow.friendly_name, chosen.definition_json, hours)

    @activity.defn(name="begin_execution")
    @finish_even_if_cancelled
    async def begin_execution(self, req: BeginExecution) -> None:
        async with self.db.write_session() as session:
            if await session.get(StudioExecution, req.execution_sid) is not None:
                return
            session.add(
                StudioExecution(
                    sid=req.execution_sid,
                    flow_sid=req.flow_sid,
                    flow_revision=req.revision,
                    channel_sid=req.channel_sid,
                    contact_channel_address_enc=self.cipher.encrypt(
                        req.contact_address, "studio_execution.contact_channel_address"
                    ),
                    context_enc=self.cipher.encrypt(json.dumps(req.context), "studio_execution.context"),
                )
            )
            await session.commit()

    @activity.defn(name="record_step")
    @finish_even_if_cancelled
    async def record_step(self, req: RecordStep) -> None:
        async with self.db.write_session() as session:
            execution = await session.get(StudioExecution, req.execution_sid)
            if execution is None:
                raise ApplicationError(f"execution {req.execution_sid} has no row", non_retryable=True)
            if await session.get(StudioStep, req.step_sid) is None:
                session.add(
                    StudioStep(
                        sid=req.step_sid,
                        execution_sid=req.execution_sid,
                        flow_sid=req.flow_sid,
                        position=req.position,
                        name=req.name,
                        transitioned_from=req.transitioned_from,
                        transitioned_to=req.transitioned_to,
                        context_enc=self.cipher.encrypt(json.dumps(req.step_context), "studio_step.context"),
                    )
                )
            execution.context_enc = self.cipher.encrypt(json.dumps(req.execution_context), "studio_execution.context")
            if req.ended:
                execution.status = "ended"
            execution.date_updated = utcnow()
            session.add(execution)
            await session.commit()

    @activity.defn(name="finish_execution")
    @finish_even_if_cancelled
    async def finish_execution(self, req: EndExecution) -> None:
        async with self.db.write_session() as session:
            execution = await session.get(StudioExecution, req.execution_sid)
            if execution is not None and execution.status != "ended":
                execution.status = "ended"
                execution.date_updated = utcnow()
                session.add(execution)
                await session.commit()

    def all(self) -> list[Callable[..., Any]]:
        return [self.load_flow, self.begin_execution, self.record_step, self.finish_execution]
