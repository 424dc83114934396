"""The Qualiopi evidence pack as a use case: open the database, build the pack, hand back bytes."""

from __future__ import annotations

from datetime import UTC, date, datetime

from engine.core.indicators import Period
from engine.reports.evidence.pack import Pack, build_pack
from engine.settings import Settings
from engine.store.db import create_engine, session_factory
from engine.store.migrate import upgrade_async


async def qualiopi_pack(settings: Settings, *, start: date, end: date, session_id: int | None = None,
                        now: datetime | None = None) -> Pack:
    """The pack for ``start``..``end`` (local days in the organisation's zone), optionally one session."""
    engine = create_engine(settings)
    try:
        await upgrade_async(engine)
        async with session_factory(engine)() as session:
            return await build_pack(session, period=Period(start, end, settings.default_timezone),
                                    now=now or datetime.now(UTC), session_id=session_id,
                                    threshold=settings.public_min_respondents)
    finally:
        await engine.dispose()
