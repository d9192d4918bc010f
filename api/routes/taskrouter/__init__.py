"""TaskRouter v1: Workspaces with their Activities, TaskChannels, TaskQueues, Workflows and Workers
(create, list, fetch, update, delete), Tasks, Reservations and Events. Routing itself (assigning
tasks, answering reservations, worker activity) is the workspace router workflow's; these routes
store configuration and call it. One module per resource family, each with its own router under
``/v1/Workspaces``; ``common`` holds what they share."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.deps import require_account
from api.routes.taskrouter import (
    activities,
    business_hours,
    canned_responses,
    events,
    reservations,
    statistics,
    task_channels,
    task_queues,
    tasks,
    worker_statistics,
    workers,
    workflows,
    workspaces,
)

router = APIRouter(tags=["taskrouter"], dependencies=[Depends(require_account)])
for family in (
    workspaces,
    activities,
    task_channels,
    statistics,  # before task_queues: TaskQueues/Statistics is not a queue's SID
    worker_statistics,  # before workers: Workers/Statistics is not a worker's SID
    task_queues,
    workflows,
    workers,
    tasks,
    reservations,
    events,
    business_hours,
    canned_responses,
):
    router.include_router(family.router)
