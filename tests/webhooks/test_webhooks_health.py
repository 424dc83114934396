"""Probes: liveness always, readiness with the database and (if configured) Redis."""

from __future__ import annotations

from pathlib import Path

import httpx

from engine.services.runtime import Runtime
from tests.support.web_support import make_settings
from webhooks.app import create_app


async def test_healthz_and_readyz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok"}


async def test_readyz_is_503_when_redis_is_down(store_url: str, tmp_path: Path,
                                                rt: Runtime) -> None:
    settings = make_settings(store_url, tmp_path, REDIS_URL="redis://127.0.0.1:1/0")
    app = create_app(settings, runtime=rt)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            ready = await c.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["reasons"][0].startswith("redis:")
            assert (await c.get("/healthz")).status_code == 200


async def test_a_serving_app_freezes_its_start_up_heap_and_a_test_app_does_not(
        store_url: str, tmp_path: Path, rt: Runtime) -> None:
    import gc

    gc.unfreeze()
    settings = make_settings(store_url, tmp_path)
    try:
        plain = create_app(settings, runtime=rt)
        async with plain.router.lifespan_context(plain):
            assert gc.get_freeze_count() == 0
        serving = create_app(settings, runtime=rt, freeze_heap=True)
        async with serving.router.lifespan_context(serving):
            frozen = gc.get_freeze_count()
            assert frozen > 10_000  # the modules, the app, the ORM: the whole start-up heap
            transport = httpx.ASGITransport(app=serving)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                assert (await c.get("/healthz")).status_code == 200
            assert gc.get_freeze_count() <= frozen  # nothing a request makes joins the frozen heap
    finally:
        gc.unfreeze()
