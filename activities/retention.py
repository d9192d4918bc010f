"""The side effects of retention and erasure: deleting in the store, ending the erased contact's
channel workflows, recording the audit trail."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from switchboard.store.crypto import Cipher
from switchboard.store.db import Database
from switchboard.store.models import Erasure, Task, utcnow
from switchboard.store.retention import (
    audit,
    contact_channels,
    cutoff_for,
    erase_channels,
    services_to_sweep,
    sweep_service,
)
from workflows.retention_messages import ErasureRequest, ServiceRetention, SweepRequest
from workflows.routing.client import RoutingClient
from workflows.routing.messages import TaskChange

# What an erasure does to a task still in routing: waiting ones are canceled, a held one wraps up.
LIVE_TASK_ENDS = {"pending": "canceled", "reserved": "canceled", "assigned": "wrapping"}


@dataclass
class RetentionActivities:
    db: Database
    cipher: Cipher
    client: Client
    task_queue: str
    default_days: int

    @property
    def routing(self) -> RoutingClient:
        return RoutingClient(self.client, self.task_queue)

    def all(self) -> list[Any]:
        return [self.retention_due, self.sweep_service, self.erase_contact]

    @activity.defn(name="retention_due")
    async def retention_due(self) -> list[ServiceRetention]:
        return await services_to_sweep(self.db, self.default_days)

    @activity.defn(name="sweep_service")
    async def sweep_service(self, request: SweepRequest) -> dict[str, int]:
        cutoff = cutoff_for(datetime.fromisoformat(request.now), request.days)
        counts = await sweep_service(self.db, request.service_sid, cutoff)
        details = {"cutoff": cutoff.isoformat(), "days": request.days, "counts": counts}
        await audit(self.db, request.audit_sid, "retention.swept", "retention schedule", request.service_sid, details)
        return counts

    @activity.defn(name="erase_contact")
    async def erase_contact(self, request: ErasureRequest) -> dict[str, int]:
        channels = await contact_channels(self.db, request.address_hash, request.identity_hash)
        # The channels' workflows end first, so none of them writes again what is being erased,
        # and their live tasks leave routing (no agent is offered a conversation that is gone).
        histories = 0
        for channel_sid in channels:
            histories += await self._end_channel(channel_sid)
            await self._end_tasks(channel_sid)
        counts = await erase_channels(self.db, self.cipher, channels, request.address_hash, request.identity_hash)
        counts["channels_ended"] = len(channels)
        counts["histories_deleted"] = histories
        details = {"erasure_sid": request.erasure_sid, "counts": counts}
        await audit(self.db, request.audit_sid, "contact.erased", request.requested_by, request.address_hash, details)
        async with self.db.write_session() as session:
            erasure = await session.get(Erasure, request.erasure_sid)
            if erasure is not None:
                erasure.status, erasure.counts = "completed", json.dumps(counts, sort_keys=True)
                erasure.date_updated = utcnow()
                session.add(erasure)
                await session.commit()
        return counts

    async def _end_channel(self, channel_sid: str) -> int:
        """Terminate the channel's workflow and ask Temporal to delete its runs' histories (they
        are encrypted by the codec, and go now rather than at the namespace's retention)."""
        handle = self.client.get_workflow_handle(channel_sid)
        runs: set[str] = set()
        try:
            description = await handle.describe()
            runs.add(description.run_id)
            if description.status == WorkflowExecutionStatus.RUNNING:
                await handle.terminate(reason="the contact's data was erased")
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
        # Earlier runs (continued as new) too.
        runs.update([run.run_id async for run in self.client.list_workflows(f'WorkflowId = "{channel_sid}"')])
        for run_id in sorted(runs):
            execution = WorkflowExecution(workflow_id=channel_sid, run_id=run_id)
            try:
                await self.client.workflow_service.delete_workflow_execution(
                    DeleteWorkflowExecutionRequest(namespace=self.client.namespace, workflow_execution=execution)
                )
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:
                    raise
        return len(runs)

    async def _end_tasks(self, channel_sid: str) -> None:
        async with self.db.session() as session:
            tasks = (await session.exec(select(Task).where(col(Task.channel_sid) == channel_sid))).all()
        for task in tasks:
            status = LIVE_TASK_ENDS.get(task.assignment_status)
            if status is None:
                continue
            change = TaskChange(task.sid, status, reason="the contact's data was erased", attributes="{}")
            try:
                await self.routing.change_task(task.workspace_sid, change)
            except (RPCError, WorkflowUpdateFailedError) as exc:  # it moved on meanwhile; its row is scrubbed anyway
                activity.logger.warning("task %s not ended for an erasure: %s", task.sid, exc.__class__.__name__)
