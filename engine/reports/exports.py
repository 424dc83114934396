"""CSV exports: a session's results (one row per learner, one column per question) and the inbox.

The summary lines reuse the session page's and the inbox's read models, so an
export and the page it came from always show the same figures.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime

from sqlalchemy import select as sa_select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.reports.content import ContentIndex
from engine.reports.facts import fetch, session_facts
from engine.reports.inbox import inbox
from engine.reports.scope import Viewer
from engine.reports.session_page import session_page
from engine.store.models import Enrollment, Learner


def _percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f}".replace(".", ",")


def _header(index: ContentIndex, ref: str) -> str:
    info = index.question(ref)
    if info is not None:
        return info.text
    item = index.items.get(ref)
    return item.question if item is not None else ref


async def session_results_csv(db: AsyncSession, viewer: Viewer, session_id: int, *, now: datetime) -> str:
    view = await session_page(db, viewer, session_id, now=now)  # checks visibility
    facts_by, index = await session_facts(db, [session_id], now=now)
    answers = facts_by[session_id].answers
    learners = [row for (row,) in await fetch(db, sa_select(Learner).where(col(Learner.id).in_(
        sa_select(col(Enrollment.learner_id)).where(col(Enrollment.session_id) == session_id))).order_by(
        col(Learner.last_name), col(Learner.first_name)))]
    questions: list[str] = []
    cells: dict[tuple[int, str], str] = {}
    for answer in answers:
        if answer.question not in questions:
            questions.append(answer.question)
        value = answer.value
        text = "oui" if value is True else "non" if value is False else "" if value is None else str(value)
        if answer.correct is not None:
            text += " (juste)" if answer.correct else " (faux)"
        cells[(answer.learner_id, answer.question)] = text
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    headers = [_header(index, q) for q in questions]
    writer.writerow(["apprenant_id", "prenom", "nom", "a_risque", *headers])
    for learner in learners:
        writer.writerow([learner.id, learner.first_name, learner.last_name, "oui" if learner.at_risk else "non",
                         *[cells.get((learner.id or 0, q), "") for q in questions]])
    writer.writerow([])
    writer.writerow(["indicateur", "valeur", "n"])
    writer.writerow(["taux de réponse (%)", _percent(view.response.value), view.response.n])
    writer.writerow(["satisfaits, note ≥ 4/5 (%)", _percent(view.satisfied.value), view.satisfied.n])
    nps = view.nps.score
    writer.writerow(["NPS", "" if nps is None else f"{nps:.0f}", view.nps.n])
    for row in view.criteria:
        mean = row.summary.mean
        writer.writerow([f"{row.criterion} : moyenne /5", "" if mean is None else f"{mean:.2f}".replace(".", ","),
                         row.summary.satisfied.n])
    return out.getvalue()


async def inbox_csv(db: AsyncSession, viewer: Viewer, *, now: datetime, state: str = "all") -> str:
    view = await inbox(db, viewer, now=now, state=state, page=1)
    rows = list(view.tickets)
    page = 1
    while page < view.pages:
        page += 1
        rows.extend((await inbox(db, viewer, now=now, state=state, page=page)).tickets)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(["ticket_id", "recu_le", "apprenant", "session", "categorie", "etat", "echeance",
                     "premiere_reponse", "en_retard", "message"])
    for t in rows:
        writer.writerow([t.id, t.created_at.isoformat(), t.learner, t.session_title or "", t.category, t.status,
                         t.due_by.isoformat(), t.first_response_at.isoformat() if t.first_response_at else "",
                         "oui" if t.overdue else "non", t.body])
    return out.getvalue()
