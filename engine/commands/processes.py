"""Starting the processes: the arq worker, and the web app with a worker in one event loop.

``ancrage worker``, ``ancrage run`` and the demo start here; Redis is ``REDIS_URL`` or
a private one under the data folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from engine.redis_server import PrivateRedis
from engine.settings import Settings

#: Seconds the extras of :func:`serve_all` get to return once ``stopping`` is set.
EXTRAS_GRACE = 3.0

def resolve_redis(settings: Settings) -> tuple[str, PrivateRedis | None]:
    """``REDIS_URL``, or a private Redis started under the data folder."""
    if settings.redis_url:
        return settings.redis_url, None
    private = PrivateRedis(settings.data_dir / "redis")
    return private.start(), private


def run_worker(settings: Settings) -> int:
    """Runs one arq worker until interrupted, on uvloop where it is installed (as the web app)."""
    from arq.worker import Worker

    from engine.heap import freeze_startup_heap
    from engine.store.migrate import upgrade
    from engine.worker import worker_settings

    upgrade(settings)  # migrations are applied on start, by whichever process starts first
    url, private = resolve_redis(settings)
    try:
        freeze_startup_heap()
        use_fast_loop()
        Worker(**worker_settings(settings.model_copy(update={"redis_url": url}), url)).run()
    finally:
        if private is not None:
            private.stop()
    return 0


def use_fast_loop() -> None:
    """Sets a uvloop event loop where it is installed: arq's ``Worker`` runs on the loop set
    when it is built (``asyncio.get_event_loop``)."""
    if fast_http()["loop"] == "uvloop":
        import uvloop

        asyncio.set_event_loop(uvloop.new_event_loop())


def fast_http() -> dict[str, str]:
    """uvicorn options for production: the httptools parser and the uvloop event loop
    (``uvicorn[standard]``), or the pure-Python ones where they are not installed."""
    import importlib.util

    return {"http": "httptools" if importlib.util.find_spec("httptools") else "h11",
            "loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"}


def run_fast(main: Coroutine[Any, Any, None]) -> None:
    """``asyncio.run`` on uvloop when it is installed (uvicorn's ``loop`` option only applies
    to a loop uvicorn creates itself; here the web app shares the loop with the worker)."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if fast_http()["loop"] == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main)


async def pause(stopping: asyncio.Event | None, seconds: float) -> None:
    """Sleeps ``seconds``, or less if ``stopping`` is set meanwhile (an extra's loop of :func:`serve_all`)."""
    if stopping is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), timeout=seconds)


def import_serving() -> None:
    """Imports what :func:`serve_all` runs (the web app, uvicorn, the worker), ahead of time."""
    import uvicorn  # noqa: F401
    from arq.worker import Worker  # noqa: F401

    import engine.worker  # noqa: F401
    import webhooks.app  # noqa: F401


async def serve_all(settings: Settings, *, host: str, port: int, extra: list[Any] | None = None,
                    stopping: asyncio.Event | None = None) -> None:
    """The web app and an arq worker in one event loop, stopped together.

    ``extra`` coroutines run beside them. At shutdown ``stopping`` is set and they
    get :data:`EXTRAS_GRACE` seconds to return by themselves (cancelled in the
    middle of a database call, a connection's rollback is cut and SQLAlchemy logs
    a traceback), then the rest are cancelled.
    """
    import uvicorn
    from arq.worker import Worker

    from engine.worker import stop_worker, worker_settings
    from webhooks.access_log import install_redaction
    from webhooks.app import create_app

    assert settings.redis_url is not None
    app = create_app(settings, freeze_heap=True)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                           http=fast_http()["http"]))
    install_redaction()  # after uvicorn configured its loggers, should it ever reset them
    options = worker_settings(settings, settings.redis_url)
    options["handle_signals"] = False
    worker = Worker(**options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    serving = asyncio.create_task(server.serve())
    working = asyncio.create_task(worker.async_run())
    extras = [asyncio.create_task(job) for job in (extra or [])]
    waiter = asyncio.create_task(stop.wait())
    await asyncio.wait([waiter, serving, working, *extras], return_when=asyncio.FIRST_COMPLETED)
    # Extras and the worker first, so nothing talks to a closing app.
    if stopping is not None:
        stopping.set()
        running = [task for task in extras if not task.done()]
        if running:
            await asyncio.wait(running, timeout=EXTRAS_GRACE)
    for task in extras:
        task.cancel()
    await asyncio.gather(*extras, return_exceptions=True)
    await stop_worker(worker, grace=5.0)
    await asyncio.gather(working, return_exceptions=True)
    server.should_exit = True  # uvicorn finishes its requests and runs the lifespan shutdown
    try:
        await asyncio.wait_for(serving, timeout=10)
    except TimeoutError:
        serving.cancel()
    waiter.cancel()


def sandbox_warning(settings: Settings, host: str) -> str | None:
    """What to tell an operator who exposes a sandbox run beyond this machine, if anything."""
    from webhooks.sandbox import is_loopback_host

    if not settings.sandbox or is_loopback_host(host):
        return None
    if settings.sandbox_public:
        return (f"warning: listening on {host} with ANCRAGE_SANDBOX_PUBLIC=true: anyone who "
                "reaches /sandbox reads every learner's messages and answers as them.")
    return (f"warning: listening on {host} with the sandbox on: /sandbox answers only this "
            "machine (127.0.0.1), but nothing is really sent to learners. For real sends set "
            "ANCRAGE_SANDBOX=false (see the README's security section).")


def run_all(settings: Settings, *, host: str, port: int) -> int:
    url, private = resolve_redis(settings)
    try:
        warning = sandbox_warning(settings, host)
        if warning:
            print(warning, file=sys.stderr)
        print(f"Ancrage on http://{host}:{port} (Ctrl-C to stop)")
        run_fast(serve_all(settings.model_copy(update={"redis_url": url}), host=host, port=port))
    finally:
        if private is not None:
            private.stop()
    return 0
