"""The web process: provider webhooks, the learner app API, one-tap pages, the integration API.

``create_app`` takes its settings (and, in tests, a ready runtime and an
in-memory enqueue) instead of reading globals; the lifespan builds whatever
was not given: runtime, migrations, arq pool.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError

from engine.heap import freeze_startup_heap
from engine.services.bootstrap import build_runtime, close_runtime
from engine.services.runtime import Runtime
from engine.settings import Settings
from engine.store.migrate import upgrade_async
from webhooks import (
    api_contract,
    api_docs,
    app_api,
    dashboard,
    followup_api,
    health,
    integration_api,
    pages,
    public,
    sandbox,
    twilio_routes,
)
from webhooks.access_log import install_redaction
from webhooks.deps import AppState
from webhooks.queue import arq_enqueue, open_pool
from webhooks.security_headers import SecurityHeaders

log = logging.getLogger("ancrage.webhooks")


def create_app(settings: Settings, *, runtime: Runtime | None = None,
               enqueue: Callable[[str, int], Awaitable[None]] | None = None,
               migrate: bool | None = None, freeze_heap: bool = False) -> FastAPI:
    """The ASGI app. ``migrate`` defaults to: only when the lifespan builds the runtime.

    ``freeze_heap`` (serving processes, not tests that build many apps in one process): once
    started, the heap is frozen out of the garbage collector's full passes (:mod:`engine.heap`).
    """
    state = AppState(settings=settings, runtime=runtime)
    if enqueue is not None:
        state.enqueue = enqueue
    run_migrations = runtime is None if migrate is None else migrate

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        built = None
        if state.runtime is None:
            built = state.runtime = await build_runtime(settings)
        if run_migrations:
            await upgrade_async(state.runtime.engine)
        if enqueue is None and settings.redis_url:
            state.redis = await open_pool(settings.redis_url)
            state.enqueue = arq_enqueue(state.redis, settings)
        if freeze_heap:
            freeze_startup_heap()
        try:
            yield
        finally:
            if state.writer is not None:
                await state.writer.aclose()
                state.writer = None
            if state.statuses is not None:
                await state.statuses.aclose()
                state.statuses = None
            if state.redis is not None:
                await state.redis.aclose()
                state.redis = None
            if built is not None:
                await close_runtime(built)
                state.runtime = None

    install_redaction()  # whoever serves this app, its access log holds no capability token
    app = FastAPI(title="Ancrage", version="1", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Webhooks, learner app API, one-tap answer pages, integration API.")
    app.state.ancrage = state
    app.add_middleware(SecurityHeaders)
    app.add_exception_handler(DBAPIError, _database_unavailable)
    api_contract.install(app)
    for module in (health, twilio_routes, app_api, integration_api, followup_api, pages, public):
        app.include_router(module.router)
    if settings.sandbox:  # nothing real is sent; the pages answer this machine only (sandbox.py)
        app.include_router(sandbox.router)
    dashboard.install(app)
    api_docs.install(app)
    return app


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """A database outage is a 503 (providers retry), not a 500; other DB errors are logged bugs."""
    if isinstance(exc, OperationalError) or (isinstance(exc, DBAPIError)
                                             and exc.connection_invalidated):
        log.warning("database unavailable on %s: %s", request.url.path, type(exc.orig).__name__
                    if isinstance(exc, DBAPIError) else type(exc).__name__)
        return JSONResponse({"detail": "database unavailable, retry later"}, status_code=503,
                            headers={"Retry-After": "5"})
    log.error("database error on %s", request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal error"}, status_code=500)
