"""Public indicators (Qualiopi indicator 2): the figures the quality manager chose to publish,
overall and per programme, each dated with its period and n, never one computed on fewer
respondents than the threshold.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.core.indicators import (
    CATALOGUE,
    EvidenceRows,
    Indicator,
    Period,
    all_indicators,
    publishable,
)
from engine.reports.evidence.rows import load_evidence
from engine.store.models import PublishedIndicator

#: What a quality manager may publish (labels for the choice form), in the catalogue's order.
PUBLISHABLE_DEFAULT = ("satisfaction.global", "nps.hot", "reponse.hot", "froid.application", "suivi.abandon")


class PublicFigure(BaseModel):
    key: str
    label: str
    value: float
    display: str
    unit: str
    n: int
    period_start: date
    period_end: date
    period: str
    computed_at: datetime


class PublicProgramme(BaseModel):
    programme: str | None
    figures: list[PublicFigure]


class PublicIndicators(BaseModel):
    """What ``/public/indicateurs`` shows: organisation-wide first, then per programme."""

    threshold: int
    period: str
    computed_at: datetime
    groups: list[PublicProgramme]


def last_twelve_months(now: datetime, timezone: str) -> Period:
    """The 12 full calendar months before this one, in the organisation's zone."""
    today = now.astimezone(ZoneInfo(timezone)).date()
    end = today.replace(day=1) - timedelta(days=1)
    year, month = (end.year, end.month - 11) if end.month == 12 else (end.year - 1, end.month + 1)
    return Period(date(year, month, 1), end, timezone)


async def chosen_keys(session: AsyncSession) -> list[str]:
    return list((await session.exec(select(PublishedIndicator.key).order_by(col(PublishedIndicator.id)))).all())


async def choose(session: AsyncSession, *, keys: list[str], trainer_id: int | None, now: datetime) -> list[str]:
    """Replaces the published choice; unknown keys are refused (returned as errors)."""
    known = set(indicator_keys())
    unknown = [k for k in keys if k not in known]
    if unknown:
        return unknown
    await session.exec(delete(PublishedIndicator))
    for key in dict.fromkeys(keys):
        session.add(PublishedIndicator(key=key, chosen_by_id=trainer_id, created_at=now))
    return []


def indicator_labels() -> dict[str, str]:
    """Every indicator the catalogue computes, key → French label (the choice form)."""
    probe = Period(date(2000, 1, 1), date(2000, 1, 1))
    figures = (fn(EvidenceRows(), probe, datetime(2000, 1, 1)) for fn in CATALOGUE)
    return {i.key: i.label for i in figures}


def indicator_keys() -> list[str]:
    return list(indicator_labels())


def _figure(i: Indicator) -> PublicFigure:
    assert i.value is not None
    return PublicFigure(key=i.key, label=i.label, value=round(i.value, 4), display=i.formatted(), unit=i.unit,
                        n=i.n, period_start=i.period.start, period_end=i.period.end, period=i.period.label,
                        computed_at=i.computed_at)


async def public_indicators(session: AsyncSession, *, now: datetime, threshold: int,
                            timezone: str = "Europe/Paris") -> PublicIndicators:
    """The published figures for the last 12 months; empty groups are left out."""
    period = last_twelve_months(now, timezone)
    chosen = await chosen_keys(session)
    groups: list[PublicProgramme] = []
    if chosen:
        loaded = await load_evidence(session, period=period, now=now)
        scopes: list[str | None] = [None, *loaded.rows.programmes()]
        for programme in scopes:
            figures = publishable(all_indicators(loaded.rows, period, now=now, programme=programme),
                                  threshold=threshold, chosen=chosen)
            order = {k: n for n, k in enumerate(chosen)}
            figures.sort(key=lambda i: order.get(i.key, 0))
            if figures:
                groups.append(PublicProgramme(programme=programme, figures=[_figure(i) for i in figures]))
    return PublicIndicators(threshold=threshold, period=period.label, computed_at=now, groups=groups)
