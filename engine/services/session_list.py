"""``ancrage session list``: each session with its trainer, its learners and where its campaigns stand."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.store.base import EnrollmentStatus
from engine.store.models import Attendance, Enrollment, Trainer, TrainingSession

HEADER = ("ID", "ENDS", "TITLE", "TRAINER", "LEARNERS", "CAMPAIGNS", "STATE")


class SessionRow(BaseModel):
    """One line of the list, as a view model a test can read without the layout."""

    id: int
    ends_at: datetime
    timezone: str
    title: str
    trainer: str | None
    learners: int
    campaigns: list[str]
    enrolments: dict[str, int]
    ended_processed: bool

    @property
    def state(self) -> str:
        """Where the session's campaigns stand, in words."""
        if not self.campaigns:
            return "no campaign"
        if not self.enrolments:
            return "nobody enrolled" if self.ended_processed else "starts when the session ends"
        order = [s.value for s in EnrollmentStatus]
        counts = ", ".join(f"{self.enrolments[s]} {s}" for s in order if self.enrolments.get(s))
        running = self.enrolments.get(EnrollmentStatus.ACTIVE, 0) + self.enrolments.get(EnrollmentStatus.PAUSED, 0)
        return f"{'running' if running else 'finished'}: {counts}"


async def session_rows(session: AsyncSession) -> list[SessionRow]:
    """Every session, soonest end first."""
    sessions = (await session.exec(select(TrainingSession).order_by(col(TrainingSession.ends_at)))).all()
    trainers = {t.id: t.name for t in (await session.exec(select(Trainer))).all()}
    learners = dict((await session.exec(select(Attendance.session_id, func.count()).group_by(
        col(Attendance.session_id)))).all())
    enrolments: dict[int, Counter[str]] = {}
    for session_id, status, count in (await session.exec(select(
            Enrollment.session_id, Enrollment.status, func.count()).group_by(
            col(Enrollment.session_id), col(Enrollment.status)))).all():
        if session_id is not None:
            enrolments.setdefault(session_id, Counter())[status] += count
    return [SessionRow(id=s.id or 0, ends_at=s.ends_at, timezone=s.timezone, title=s.title,
                       trainer=trainers.get(s.trainer_id), learners=learners.get(s.id or 0, 0),
                       campaigns=list(s.campaign_names), enrolments=dict(enrolments.get(s.id or 0, {})),
                       ended_processed=s.ended_processed_at is not None)
            for s in sessions]


def format_rows(rows: list[SessionRow]) -> str:
    """A header and one aligned line per session (its end in the session's own zone)."""
    if not rows:
        return "no session yet: ancrage session add --title ... --ends-at ... --campaign ..."
    table = [HEADER] + [
        (str(r.id), f"{r.ends_at.astimezone(ZoneInfo(r.timezone)):%Y-%m-%d %H:%M}", r.title,
         r.trainer or "-", str(r.learners), ",".join(r.campaigns) or "-", r.state) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADER) - 1)]
    return "\n".join("  ".join([*(cell.ljust(w) for cell, w in zip(line, widths, strict=False)), line[-1]])
                     for line in table)
