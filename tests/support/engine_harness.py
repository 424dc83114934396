"""Building blocks for engine tests: a hand-driven clock, a runtime on a test database,
learners and sessions, and a tick that runs send jobs in-process or through arq."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import select

from engine.channels.base import Channel
from engine.services.bootstrap import build_runtime
from engine.services.catalog import Catalog
from engine.services.dispatch import send_batch
from engine.services.runtime import Runtime
from engine.services.scheduler import TickReport, tick
from engine.settings import PROJECT_ROOT, Settings
from engine.store.models import Delivery
from tests.support.sessions import (
    add_session as add_session,  # the one helper, kept importable here
)

CONTENT = PROJECT_ROOT / "content"


@dataclass
class HandClock:
    """A clock that only moves when the test says so."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def set(self, moment: datetime) -> None:
        self.now = moment.astimezone(UTC)

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@dataclass
class Engine:
    """A runtime plus the catalog and a tick that sends in-process."""

    rt: Runtime
    catalog: Catalog
    clock: HandClock
    sent_batches: list[list[int]] = field(default_factory=list)

    async def tick(self) -> TickReport:
        """One tick; every batch it enqueues is sent at once (no Redis)."""
        batches: list[tuple[str, list[int]]] = []

        async def enqueue(key: str, ids: list[int]) -> bool:
            batches.append((key, ids))
            return True

        report = await tick(self.rt, catalog=self.catalog, enqueue=enqueue)
        for _, ids in batches:
            self.sent_batches.append(ids)
            await send_batch(self.rt, ids)
        return report

    async def run_until(self, moment: datetime, *, step: timedelta = timedelta(minutes=30)) -> None:
        """Moves the clock to ``moment`` in steps, ticking at each (a time-warped worker)."""
        while self.clock.now < moment:
            self.clock.now = min(self.clock.now + step, moment.astimezone(UTC))
            report = await self.tick()
            if any(vars(report).values()):  # a second pass sends what the first one created (feedback,
                await self.tick()           # branches); a tick that changed nothing would change nothing again

    async def deliveries(self, **where: Any) -> list[Delivery]:
        async with self.rt.sessions() as session:
            statement = select(Delivery).order_by(Delivery.due_at, Delivery.id)  # type: ignore[arg-type]
            for key, value in where.items():
                statement = statement.where(getattr(Delivery, key) == value)
            return list((await session.exec(statement)).all())


def write_campaign(folder: Path, text: str, name: str = "test.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


async def make_engine(database_url: str, tmp_path: Path, campaigns_dir: Path, *, start: datetime,
                      channels: dict[str, Channel], **overrides: Any) -> Engine:
    settings = Settings(database_url=database_url, data_dir=tmp_path / "data", campaigns_dir=campaigns_dir,
                        content_dir=CONTENT, sandbox=False, public_url="https://ancrage.test",
                        **{"secret_key": "engine-harness-secret-" + "k9Zx" * 8, **overrides})
    clock = HandClock(start.astimezone(UTC))
    rt = await build_runtime(settings, channels=channels)
    rt.clock = clock
    catalog = Catalog.load(campaigns_dir, CONTENT)
    errors = [d.format() for d in catalog.diagnostics if d.severity == "error"]
    assert not errors, errors
    return Engine(rt, catalog, clock)
