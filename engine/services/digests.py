"""Weekly digests: each Monday from 08:00 in the recipient's zone, every trainer (their
sessions) and quality manager (everything) gets an e-mail with new alerts, tickets near or
past their target, learners at risk, sessions ending this week and the indicators of last
month against the month before. A link to the dashboard, not an attachment; one click stops it.

Run from the worker's cron every quarter of an hour: a ``digest_log`` row per person and
week, inserted before sending, makes several workers send each digest once.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.channels.base import OutboundMessage
from engine.core.indicators import Period, all_indicators, by_key
from engine.links import sign, verify
from engine.reports.digest import (
    DigestAlert,
    DigestFigure,
    DigestSession,
    DigestTicket,
    DigestView,
    render_digest,
)
from engine.reports.evidence.rows import load_evidence, month_period
from engine.services.runtime import Runtime
from engine.store.base import TicketStatus, TrainerRole
from engine.store.models import (
    Alert,
    Attendance,
    DigestLog,
    Learner,
    Ticket,
    Trainer,
    TrainingSession,
)

log = logging.getLogger("ancrage.digests")
STOP_PURPOSE = "digest-stop"
SEND_FROM_HOUR = 8
NEAR_TARGET = timedelta(hours=24)
LIST_LIMIT = 10
DIGEST_FIGURES = ("satisfaction.global", "nps.hot", "reponse.hot", "demandes.delai", "reclamations.taux")
_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre")


def digest_week(now: datetime, timezone: str) -> date | None:
    """The Monday this digest is for, when it is Monday 08:00 or later in ``timezone``; else None."""
    local = now.astimezone(ZoneInfo(timezone))
    return local.date() if local.weekday() == 0 and local.hour >= SEND_FROM_HOUR else None


def stop_link(secret: str, public_url: str, *, trainer_id: int, now: datetime) -> str:
    token = sign(secret, purpose=STOP_PURPOSE, data={"t": trainer_id}, expires_at=now + timedelta(days=365))
    return f"{public_url.rstrip('/')}/public/digest/arret/{token}"


def trainer_from_stop_token(secret: str, token: str, *, now: datetime) -> int:
    """The trainer a stop link was made for (raises ``InvalidToken``)."""
    return int(verify(secret, token, purpose=STOP_PURPOSE, now=now)["t"])


async def stop_digest(session: AsyncSession, *, trainer_id: int) -> bool:
    trainer = await session.get(Trainer, trainer_id)
    if trainer is None:
        return False
    trainer.digest_opt_out = True
    session.add(trainer)
    return True


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%d/%m %H:%M")


async def build_digest(session: AsyncSession, rt: Runtime, *, trainer: Trainer, now: datetime) -> DigestView:
    """One person's digest: a trainer's sessions, or everything for a quality manager."""
    zone = ZoneInfo(trainer.timezone)
    quality = trainer.role == TrainerRole.QUALITY
    session_rows = (await session.exec(select(TrainingSession.id, TrainingSession.title, TrainingSession.ends_at,
                                              TrainingSession.trainer_id))).all()
    mine = {sid for sid, _, _, owner in session_rows if sid is not None and (quality or owner == trainer.id)}
    names = {i: f"{f} {n}".strip() for i, f, n in (await session.exec(
        select(Learner.id, Learner.first_name, Learner.last_name))).all()}
    alerts = (await session.exec(select(Alert).where(
        col(Alert.created_at) >= now - timedelta(days=7), col(Alert.acknowledged_at).is_(None),
        col(Alert.session_id).in_(mine)).order_by(col(Alert.created_at).desc()))).all()
    tickets = (await session.exec(select(Ticket).where(
        col(Ticket.status) == TicketStatus.OPEN, col(Ticket.first_response_at).is_(None),
        col(Ticket.due_by) < now + NEAR_TARGET, col(Ticket.session_id).in_(mine))
        .order_by(col(Ticket.due_by)))).all()
    at_risk = sorted({names.get(lid, "") for lid, in_risk in (await session.exec(
        select(Attendance.learner_id, Learner.at_risk).join(Learner, col(Learner.id) == col(Attendance.learner_id))
        .where(col(Attendance.session_id).in_(mine), col(Learner.at_risk).is_(True),
               col(Learner.erased_at).is_(None)))).all() if in_risk})
    ending = sorted((s for s in session_rows if s[0] in mine and now <= s[2] < now + timedelta(days=7)),
                    key=lambda s: s[2])
    today = now.astimezone(zone).date()
    last = month_period(today.replace(day=1) - timedelta(days=1), trainer.timezone)
    before = month_period(last.start - timedelta(days=1), trainer.timezone)
    loaded = await load_evidence(session, period=Period(before.start, last.end, trainer.timezone), now=now,
                                 session_ids=mine)
    current, previous = (by_key(all_indicators(loaded.rows, p, now=now)) for p in (last, before))
    figures = [DigestFigure(label=current[k].label, value=current[k].formatted(), n=current[k].n,
                            previous=previous[k].formatted()) for k in DIGEST_FIGURES]
    return DigestView(
        trainer_id=trainer.id or 0, name=trainer.name, email=trainer.email,
        scope_label="toutes les sessions" if quality else "vos sessions", week=today.strftime("%d/%m/%Y"),
        alerts=[DigestAlert(when=_local(a.created_at, zone), learner=names.get(a.learner_id, ""), reason=a.reason)
                for a in alerts[:LIST_LIMIT]], alerts_total=len(alerts),
        tickets=[DigestTicket(id=t.id or 0, state="en retard" if t.due_by < now else "à échéance sous 24 h",
                              due=_local(t.due_by, zone), learner=names.get(t.learner_id or 0, ""))
                 for t in tickets[:LIST_LIMIT]],
        at_risk=at_risk[:LIST_LIMIT], at_risk_total=len(at_risk),
        sessions=[DigestSession(id=s[0] or 0, title=s[1], ends=_local(s[2], zone)) for s in ending],
        indicators=figures, month=f"{_MONTHS[last.start.month - 1]} {last.start.year}",
        previous_month=f"{_MONTHS[before.start.month - 1]} {before.start.year}",
        dashboard_url=f"{rt.settings.public_url.rstrip('/')}/dashboard",
        stop_url=stop_link(rt.settings.secret_key, rt.settings.public_url, trainer_id=trainer.id or 0, now=now))


async def _claim(session: AsyncSession, *, trainer_id: int, week: date, now: datetime) -> bool:
    """Inserts this week's log row; False when another worker (or an earlier run) has it."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    result = await session.exec(insert(DigestLog).values(
        trainer_id=trainer_id, week=week, created_at=now).on_conflict_do_nothing(
        index_elements=["trainer_id", "week"]))
    return bool(result.rowcount)


async def send_due_digests(rt: Runtime, *, now: datetime) -> int:
    """Sends every digest that is due now and not yet sent this week; returns how many went."""
    channel = rt.channels.get("email")
    if channel is None:
        return 0
    async with rt.sessions() as session:
        people = (await session.exec(select(Trainer).where(
            col(Trainer.disabled_at).is_(None), col(Trainer.digest_opt_out).is_(False)))).all()
    sent = 0
    for trainer in people:
        week = digest_week(now, trainer.timezone)
        if week is None or "@" not in trainer.email:
            continue
        async with rt.sessions() as session, session.begin():
            if not await _claim(session, trainer_id=trainer.id or 0, week=week, now=now):
                continue
        async with rt.sessions() as session:
            view = await build_digest(session, rt, trainer=trainer, now=now)
        subject, text, html = render_digest(view)
        result = await channel.send(OutboundMessage(delivery_id=0, channel="email", to=trainer.email, body=text,
                                                    subject=subject, html=html, unsubscribe_url=view.stop_url))
        async with rt.sessions() as session, session.begin():
            entry = (await session.exec(select(DigestLog).where(
                col(DigestLog.trainer_id) == trainer.id, col(DigestLog.week) == week))).one()
            if result.status == "accepted":
                entry.sent_at = now
                sent += 1
            else:
                entry.error = (result.error or result.status)[:300]
                log.warning("digest for trainer %s not accepted: %s", trainer.id, result.status)
            session.add(entry)
    return sent
