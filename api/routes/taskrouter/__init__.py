"""TaskRouter v1: Workspaces with their Activities, TaskChannels, TaskQueues and Workflows (create,
list, fetch, update, delete), and Tasks (list and fetch; tasks are created by flows and
integrations). One module per resource family, each with its own router under ``/v1/Workspaces``;
``common`` holds what they share."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.deps import require_account
from api.routes.taskrouter import activities, task_channels, task_queues, tasks, workflows, workspaces

router = APIRouter(tags=["taskrouter"], dependencies=[Depends(require_account)])
for family in (workspaces, activities, task_channels, task_queues, workflows, tasks):
    router.include_router(family.router)
