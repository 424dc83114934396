"""Liveness and readiness probes for the load balancer and the orchestrator."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from webhooks.deps import StateDep

router = APIRouter(tags=["health"])

PROBE_TIMEOUT_SECONDS = 2.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up and serving (no dependency checked: restarting would not help)."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "a dependency is unavailable"}})
async def readyz(state: StateDep) -> JSONResponse:
    """Ready when the database answers a query and Redis (if configured) a PING."""
    reasons: list[str] = []
    checks: dict[str, Any] = {}
    rt = state.runtime
    if rt is None:
        reasons.append("runtime not started")
    else:
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_SECONDS), rt.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # any failure means not ready
            reasons.append(f"database: {type(exc).__name__}")
    if state.redis is not None:
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
                await state.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            reasons.append(f"redis: {type(exc).__name__}")
    if reasons:
        return JSONResponse({"status": "unavailable", "reasons": reasons, "checks": checks},
                            status_code=503)
    return JSONResponse({"status": "ok", "checks": checks})
