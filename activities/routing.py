"""Routing activities: creating the TaskRouter task a conversation is handed to. Assignment is the
routing workflows' job; a task starts ``pending``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlmodel import or_, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.store import finish_even_if_cancelled
from store.crypto import Cipher
from store.db import Database
from store.models import RoutingWorkflow, Task, TaskChannel
from workflows.messages import CreateTask


def refused(message: str) -> ApplicationError:
    # A configuration problem, not a blip: retrying cannot help.
    return ApplicationError(message, type="TaskNotCreated", non_retryable=True)


@dataclass
class RoutingActivities:
    db: Database
    cipher: Cipher

    @activity.defn(name="create_task")
    @finish_even_if_cancelled
    async def create_task(self, req: CreateTask) -> None:
        """Store the task (idempotent: the SID comes from the workflow)."""
        async with self.db.write_session() as session:
            if await session.get(Task, req.task_sid) is not None:
                return
            routing = await session.get(RoutingWorkflow, req.workflow_sid)
            if routing is None:
                raise refused(f"workflow {req.workflow_sid or '(none)'} does not exist")
            if req.workspace_sid and routing.workspace_sid != req.workspace_sid:
                raise refused(f"workflow {req.workflow_sid} is not in workspace {req.workspace_sid}")
            channel = (
                await session.exec(
                    select(TaskChannel).where(
                        TaskChannel.workspace_sid == routing.workspace_sid,
                        or_(TaskChannel.sid == req.task_channel, TaskChannel.unique_name == req.task_channel),
                    )
                )
            ).first()
            if channel is None:
                raise refused(f"task channel {req.task_channel!r} is not in workspace {routing.workspace_sid}")
            session.add(
                Task(
                    sid=req.task_sid,
                    workspace_sid=routing.workspace_sid,
                    workflow_sid=routing.sid,
                    task_channel_unique_name=channel.unique_name,
                    attributes_enc=self.cipher.encrypt(req.attributes, "task.attributes"),
                    priority=req.priority,
                    timeout=req.timeout,
                    channel_sid=req.channel_sid,
                )
            )
            await session.commit()

    def all(self) -> list[Callable[..., Any]]:
        return [self.create_task]
