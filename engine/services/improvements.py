"""The improvement register (Qualiopi indicator 32): source → decision → owner → due date →
status → effectiveness review. Use cases and the register's read model; pages and the
evidence pack only call these.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel
from sqlalchemy import ColumnElement
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.core.indicators import CRITERIA, SMALL_N_DEFAULT, Period, satisfaction_rate
from engine.core.signals import complaint_words
from engine.reports.evidence.rows import load_evidence
from engine.reports.evidence.tables import SOURCE_LABELS, STATUS_LABELS, ActionRow
from engine.store.base import ActionSource, ActionStatus, TicketCategory
from engine.store.models import Alert, ImprovementAction, Ticket, Trainer

PER_PAGE = 50


class ActionInvalid(ValueError):
    """A form value the register refuses (message in French, for the form)."""


async def create_action(session: AsyncSession, *, source_kind: str, finding: str, decision: str, now: datetime,
                        source_id: int | None = None, source_ref: str | None = None, owner_id: int | None = None,
                        due_on: date | None = None, created_by_id: int | None = None,
                        session_id: int | None = None) -> ImprovementAction:
    """Records a decision taken from a ticket, an alert, a low criterion or a verbatim.

    An action from a ticket becomes that ticket's corrective action (the complaints register shows it).
    """
    if source_kind not in set(ActionSource):
        raise ActionInvalid(f"source inconnue : {source_kind}")
    if not finding.strip() or not decision.strip():
        raise ActionInvalid("le constat et la décision sont obligatoires")
    action = ImprovementAction(source_kind=source_kind, source_id=source_id, source_ref=source_ref,
                               finding=finding.strip(), decision=decision.strip(), owner_id=owner_id, due_on=due_on,
                               created_by_id=created_by_id, session_id=session_id, created_at=now, updated_at=now)
    session.add(action)
    await session.flush()
    if source_kind == ActionSource.TICKET and source_id is not None:
        ticket = await session.get(Ticket, source_id)
        if ticket is None:
            raise ActionInvalid(f"aucune demande n°{source_id}")
        ticket.corrective_action_id = action.id
        session.add(ticket)
    return action


async def set_status(session: AsyncSession, *, action_id: int, status: str, now: datetime) -> ImprovementAction:
    if status not in set(ActionStatus):
        raise ActionInvalid(f"statut inconnu : {status}")
    action = await _get(session, action_id)
    action.status, action.updated_at = status, now
    action.done_at = now if status == ActionStatus.DONE else None
    session.add(action)
    return action


async def review_effectiveness(session: AsyncSession, *, action_id: int, effective: bool, note: str,
                               now: datetime) -> ImprovementAction:
    """The follow-up that closes the loop: did the action work, and on what evidence."""
    action = await _get(session, action_id)
    if not note.strip():
        raise ActionInvalid("décrivez ce qui montre l'efficacité (ou non) de l'action")
    action.effective, action.effectiveness, action.reviewed_at, action.updated_at = effective, note.strip(), now, now
    session.add(action)
    return action


async def _get(session: AsyncSession, action_id: int) -> ImprovementAction:
    action = await session.get(ImprovementAction, action_id)
    if action is None:
        raise ActionInvalid(f"aucune action n°{action_id}")
    return action


async def owner_choices(session: AsyncSession) -> list[tuple[int, str]]:
    """Who may own an action: the active dashboard accounts, by name."""
    rows = (await session.exec(select(Trainer.id, Trainer.name).where(col(Trainer.disabled_at).is_(None))
                               .order_by(col(Trainer.name)))).all()
    return [(tid or 0, name) for tid, name in rows]


class ActionView(BaseModel):
    id: int
    source: str
    origin: str
    finding: str
    decision: str
    owner: str
    due_on: date | None
    status: str
    status_label: str
    overdue: bool
    effectiveness: str | None
    effective: bool | None


class RegisterView(BaseModel):
    """One page of the register, filtered by URL parameters."""

    actions: list[ActionView]
    total: int
    page: int
    pages: int
    counts: dict[str, int]


async def register_page(session: AsyncSession, *, today: date, status: str | None = None,
                        owner_id: int | None = None, source_kind: str | None = None, page: int = 1,
                        per_page: int = PER_PAGE) -> RegisterView:
    """The register's page: three queries whatever its size (rows, total, counts per status)."""
    filters: list[ColumnElement[bool]] = []
    if status:
        filters.append(col(ImprovementAction.status) == status)
    if owner_id is not None:
        filters.append(col(ImprovementAction.owner_id) == owner_id)
    if source_kind:
        filters.append(col(ImprovementAction.source_kind) == source_kind)
    total = (await session.exec(select(func.count()).select_from(ImprovementAction).where(*filters))).one()
    counts = dict((await session.exec(select(ImprovementAction.status, func.count())
                                      .group_by(col(ImprovementAction.status)))).all())
    rows = await action_rows(session, filters=filters, offset=(page - 1) * per_page, limit=per_page)
    views = [ActionView(id=a.id, source=SOURCE_LABELS.get(a.source_kind, a.source_kind), origin=a.source,
                        finding=a.finding, decision=a.decision, owner=a.owner, due_on=a.due_on, status=a.status,
                        status_label=STATUS_LABELS.get(a.status, a.status),
                        overdue=a.due_on is not None and a.due_on < today and a.status in ("planned", "in_progress"),
                        effectiveness=a.effectiveness, effective=a.effective) for a in rows]
    return RegisterView(actions=views, total=int(total), page=page, pages=max(1, -(-int(total) // per_page)),
                        counts={str(k): int(v) for k, v in counts.items()})


async def action_rows(session: AsyncSession, *, filters: list[ColumnElement[bool]] | None = None, offset: int = 0,
                      limit: int | None = None) -> list[ActionRow]:
    """The register's rows with owner names (one query), newest first."""
    statement = (select(ImprovementAction, Trainer.name)
                 .outerjoin(Trainer, col(Trainer.id) == col(ImprovementAction.owner_id))
                 .where(*(filters or []))
                 .order_by(col(ImprovementAction.created_at).desc(), col(ImprovementAction.id).desc())
                 .offset(offset))
    if limit is not None:
        statement = statement.limit(limit)
    out: list[ActionRow] = []
    for action, owner in (await session.exec(statement)).all():
        origin = (f"n°{action.source_id}" if action.source_id is not None  # beside its source's label
                  else action.source_ref or "")
        out.append(ActionRow(action.id or 0, action.source_kind, origin, action.finding, action.decision,
                             owner or "", action.due_on, action.status, action.effectiveness, action.effective,
                             action.reviewed_at, action.created_at))
    return out


class Suggestion(BaseModel):
    """Something that may call for an action, pre-filled for the creation form."""

    source_kind: str
    source_id: int | None = None
    source_ref: str | None = None
    finding: str


CRITERION_FLOOR = 0.8


async def suggestions(session: AsyncSession, *, period: Period, now: datetime, threshold: int = SMALL_N_DEFAULT,
                      limit: int = 20) -> list[Suggestion]:
    """Low criteria, complaints without a corrective action, unhandled alerts and negative verbatims
    of the period that no action points at yet (a constant number of queries)."""
    loaded = await load_evidence(session, period=period, now=now)
    taken = {(kind, ref) for kind, ref in (await session.exec(
        select(ImprovementAction.source_kind, ImprovementAction.source_id))).all()}
    taken_refs = set((await session.exec(select(ImprovementAction.source_ref)
                                         .where(col(ImprovementAction.source_ref).is_not(None)))).all())
    out: list[Suggestion] = []
    for criterion in CRITERIA:
        figure = satisfaction_rate(loaded.rows, period, now=now, criterion=criterion)
        if figure.publishable(threshold) and (figure.value or 0) < CRITERION_FLOOR and criterion not in taken_refs:
            out.append(Suggestion(source_kind=ActionSource.CRITERION, source_ref=criterion,
                                  finding=f"{figure.label} : {figure.formatted()} (n = {figure.n}, {period.label})"))
    for ticket in loaded.rows.tickets:
        if (ticket.category == TicketCategory.COMPLAINT and ticket.corrective_action_id is None
                and period.contains(ticket.received_at) and ("ticket", ticket.ticket_id) not in taken):
            out.append(Suggestion(source_kind=ActionSource.TICKET, source_id=ticket.ticket_id,
                                  finding=f"Réclamation n°{ticket.ticket_id} : {ticket.body[:200]}"))
    alerts = (await session.exec(select(Alert.id, Alert.reason).where(
        col(Alert.acknowledged_at).is_(None), col(Alert.kind).in_(("low_rating", "detractor", "complaint")),
        col(Alert.created_at) >= period.bounds[0], col(Alert.created_at) < period.bounds[1]))).all()
    out += [Suggestion(source_kind=ActionSource.ALERT, source_id=alert_id, finding=reason)
            for alert_id, reason in alerts if ("alert", alert_id) not in taken]
    out += [Suggestion(source_kind=ActionSource.VERBATIM, source_ref=f"{a.survey_ref}#{a.question_id}",
                       finding=f"« {a.value} »") for a in loaded.rows.answers
            if a.topic == "verbatim" and isinstance(a.value, str) and complaint_words(a.value)
            and period.contains(a.answered_at)]
    return out[:limit]
