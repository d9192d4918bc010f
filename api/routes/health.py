"""Liveness of the API's dependencies, and Prometheus metrics."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import ContextDep
from store.db import ping

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


@router.get("/metrics")
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
