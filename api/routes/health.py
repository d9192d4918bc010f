"""Liveness of the API's dependencies (open to all), and Prometheus metrics (operators only unless
``operational_endpoints_auth`` is off: ``api.operators``)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func
from sqlmodel import col, select

from api.deps import ContextDep
from api.operators import operators_only_when_locked
from switchboard.observability import QUEUE_DEPTH
from switchboard.store.db import ping
from switchboard.store.models import Task, TaskQueue

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(context: ContextDep) -> JSONResponse:
    """200 once both Temporal and the database answer; 503 naming what does not."""
    checks: dict[str, Any] = {}
    try:
        await asyncio.wait_for(ping(context.db.engine), timeout=5)
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unreachable: {exc.__class__.__name__}"
    if context.temporal is None:
        checks["temporal"] = "not connected"
    else:
        try:
            await context.temporal.service_client.check_health(timeout=timedelta(seconds=5))
            checks["temporal"] = "ok"
        except Exception as exc:
            checks["temporal"] = f"unreachable: {exc.__class__.__name__}"
    healthy = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ok" if healthy else "unavailable", **checks}, status_code=200 if healthy else 503)


@router.get("/metrics", dependencies=[Depends(operators_only_when_locked)])
async def metrics(context: ContextDep) -> Response:
    """This process's metrics; queue depths read from the store (the same for every replica)."""
    waiting = (
        select(Task.workspace_sid, Task.task_queue_sid, func.count())
        .where(Task.assignment_status == "pending")
        .group_by(col(Task.workspace_sid), col(Task.task_queue_sid))
    )
    async with context.db.session() as session:
        depths = {(space, queue or ""): count for space, queue, count in (await session.exec(waiting)).all()}
        queues = (await session.exec(select(TaskQueue.workspace_sid, TaskQueue.sid))).all()
    # Cleared and set with no await between: a concurrent scrape never sees half of it.
    QUEUE_DEPTH.clear()
    for space, queue in queues:
        QUEUE_DEPTH.labels(space, queue).set(depths.get((space, queue), 0))
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
