"""``ancrage worker``: the arq worker runs on uvloop, and its client libraries keep their
per-request INFO lines to themselves."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import arq.worker
import pytest
import uvloop

from engine.commands import operator, processes
from engine.settings import Settings


def test_the_worker_runs_on_uvloop(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: list[asyncio.AbstractEventLoop] = []

    class Recording:
        def __init__(self, **_options: Any) -> None:
            seen.append(asyncio.get_event_loop())  # what arq's Worker takes as its loop

        def run(self) -> None:
            pass

    monkeypatch.setattr(arq.worker, "Worker", Recording)
    monkeypatch.setattr("engine.store.migrate.upgrade", lambda settings: None)
    monkeypatch.setattr("engine.worker.worker_settings", lambda settings, url: {})
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'w.db'}", redis_url="redis://127.0.0.1:1/0",
                        data_dir=tmp_path)
    try:
        assert processes.run_worker(settings) == 0
        assert len(seen) == 1 and isinstance(seen[0], uvloop.Loop)
    finally:
        for loop in seen:
            loop.close()
        asyncio.set_event_loop(None)


def test_client_libraries_do_not_log_every_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    monkeypatch.setattr(logging.getLogger(), "level", logging.getLogger().level)
    for name in operator.CHATTY_LOGGERS:
        monkeypatch.setattr(logging.getLogger(name), "level", logging.NOTSET)
    operator.log_at_info()
    assert logging.getLogger("ancrage.scheduler").isEnabledFor(logging.INFO)
    for name in ("twilio.async_http_client", "twilio.http_client", "httpx"):
        logger = logging.getLogger(name)
        assert not logger.isEnabledFor(logging.INFO) and logger.isEnabledFor(logging.WARNING)
