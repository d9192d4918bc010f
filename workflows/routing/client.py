"""Client-side entry points into workspace routers, shared by the API and by activities. Every
call is "with start": a workspace's router runs from its first task on, whoever comes first.

The router is called by name: the router imports activities, which use this client, so importing
the router here would be a cycle."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from workflows.routing.messages import (
    NewTask,
    ReservationChange,
    RouterInput,
    RoutingResult,
    RoutingSnapshot,
    TaskChange,
    Transfer,
    WorkerActivityChange,
    router_id,
)
from workflows.update_retry import while_busy

ROUTER_WORKFLOW = "WorkspaceRouter"


@dataclass(frozen=True)
class RoutingClient:
    client: Client
    task_queue: str

    def _with_start(self, workspace_sid: str) -> WithStartWorkflowOperation[Any, None]:
        return WithStartWorkflowOperation(
            ROUTER_WORKFLOW,
            RouterInput(workspace_sid),
            id=router_id(workspace_sid),
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=f"task router of workspace {workspace_sid}",
        )

    async def create_task(self, workspace_sid: str, new: NewTask) -> RoutingResult:
        return await while_busy(
            lambda: self.client.execute_update_with_start_workflow(
                "create_task",
                new,
                start_workflow_operation=self._with_start(workspace_sid),
                result_type=RoutingResult,
            )
        )

    async def change_task(self, workspace_sid: str, change: TaskChange) -> RoutingResult:
        return await while_busy(
            lambda: self.client.execute_update_with_start_workflow(
                "change_task",
                change,
                start_workflow_operation=self._with_start(workspace_sid),
                result_type=RoutingResult,
            )
        )

    async def change_reservation(self, workspace_sid: str, change: ReservationChange) -> RoutingResult:
        return await while_busy(
            lambda: self.client.execute_update_with_start_workflow(
                "change_reservation",
                change,
                start_workflow_operation=self._with_start(workspace_sid),
                result_type=RoutingResult,
            )
        )

    async def set_worker_activity(self, workspace_sid: str, change: WorkerActivityChange) -> RoutingResult:
        return await while_busy(
            lambda: self.client.execute_update_with_start_workflow(
                "set_worker_activity",
                change,
                start_workflow_operation=self._with_start(workspace_sid),
                result_type=RoutingResult,
            )
        )

    async def transfer_task(self, workspace_sid: str, transfer: Transfer) -> RoutingResult:
        return await while_busy(
            lambda: self.client.execute_update_with_start_workflow(
                "transfer_task",
                transfer,
                start_workflow_operation=self._with_start(workspace_sid),
                result_type=RoutingResult,
            )
        )

    async def refresh(self, workspace_sid: str) -> None:
        """Configuration changed in the store (signal-with-start)."""
        await self._signal_with_start(workspace_sid, "refresh")

    async def desk_changed(self, workspace_sid: str, *, closed: bool) -> None:
        """An agent's desk opened or closed (signal-with-start): the router looks at who still has
        one open (``WorkspaceRouter.desk_changed``)."""
        await self._signal_with_start(workspace_sid, "desk_changed", closed)

    async def _signal_with_start(self, workspace_sid: str, signal: str, *args: Any) -> None:
        await self.client.start_workflow(
            ROUTER_WORKFLOW,
            RouterInput(workspace_sid),
            id=router_id(workspace_sid),
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            start_signal=signal,
            start_signal_args=args,
            static_summary=f"task router of workspace {workspace_sid}",
        )

    async def state(self, workspace_sid: str) -> RoutingSnapshot | None:
        # A router that has loaded nothing yet answers None.
        answer_type: Any = RoutingSnapshot | None
        snapshot: RoutingSnapshot | None = await self.client.get_workflow_handle(router_id(workspace_sid)).query(
            "routing_state", result_type=answer_type
        )
        return snapshot
