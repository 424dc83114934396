"""Testimonials with their consent: collected from the testimonial survey, approved by the
quality manager, exported (CSV, HTML snippet for the website). A learner who withdraws
consent (by reply or from the signed link) disappears from every export at once: every
read here filters ``withdrawn_at IS NULL``.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from html import escape

from pydantic import BaseModel
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.links import sign, verify
from engine.reports.evidence.tables import SCOPE_LABELS, TestimonialRow, local, spreadsheet_safe
from engine.store.base import ConsentScope
from engine.store.models import Enrollment, Learner, Reply, Testimonial, TrainingSession

WITHDRAW_PURPOSE = "testimonial-withdraw"
WITHDRAW_LINK_VALIDITY = timedelta(days=3 * 365)
CONSENT_QUESTION, TEXT_QUESTION, NAMED_QUESTION = "consentement", "temoignage", "publier-nom"


async def collect_from_replies(session: AsyncSession, *, survey_ref: str = "temoignage", now: datetime) -> int:
    """Turns answered testimonial surveys into testimonials (idempotent per learner and session).

    Consent "oui" gives the website scope; the name is shown only if the learner said so.
    Returns how many were added.
    """
    replies = (await session.exec(select(Reply, Enrollment.session_id)
                                  .join(Enrollment, col(Enrollment.id) == col(Reply.enrollment_id))
                                  .where(col(Reply.kind) == "survey"))).all()
    answers: dict[tuple[int, int | None], dict[str, object]] = {}
    stamped: dict[tuple[int, int | None], datetime] = {}
    for reply, session_id in replies:
        data = reply.value if isinstance(reply.value, dict) else {}
        ref, _, qid = str(data.get("question", "")).partition("#")
        if ref != survey_ref:
            continue
        key = (reply.learner_id, session_id)
        answers.setdefault(key, {})[qid] = data.get("value")
        if qid == CONSENT_QUESTION:
            stamped[key] = reply.created_at
    existing = {(t.learner_id, t.session_id) for t in (await session.exec(select(Testimonial))).all()}
    added = 0
    for key, given in answers.items():
        text = given.get(TEXT_QUESTION)
        if key in existing or given.get(CONSENT_QUESTION) is not True or not isinstance(text, str) or not text.strip():
            continue
        session.add(Testimonial(learner_id=key[0], session_id=key[1], text=text.strip(), scope=ConsentScope.WEBSITE,
                                named=given.get(NAMED_QUESTION) is True, consent_at=stamped.get(key, now),
                                created_at=now))
        added += 1
    return added


async def approve(session: AsyncSession, *, testimonial_id: int, trainer_id: int | None, now: datetime) -> bool:
    item = await session.get(Testimonial, testimonial_id)
    if item is None or item.withdrawn_at is not None:
        return False
    item.approved_at, item.approved_by_id = now, trainer_id
    session.add(item)
    return True


async def withdraw(session: AsyncSession, *, learner_id: int, now: datetime) -> int:
    """The learner withdraws consent: all their testimonials leave every export now."""
    items = (await session.exec(select(Testimonial).where(col(Testimonial.learner_id) == learner_id,
                                                          col(Testimonial.withdrawn_at).is_(None)))).all()
    for item in items:
        item.withdrawn_at = now
        session.add(item)
    return len(items)


def withdraw_link(secret: str, public_url: str, *, learner_id: int, now: datetime) -> str:
    token = sign(secret, purpose=WITHDRAW_PURPOSE, data={"l": learner_id}, expires_at=now + WITHDRAW_LINK_VALIDITY)
    return f"{public_url.rstrip('/')}/public/temoignage/retrait/{token}"


def learner_from_withdraw_token(secret: str, token: str, *, now: datetime) -> int:
    """The learner id a withdrawal link was made for (raises ``InvalidToken``)."""
    return int(verify(secret, token, purpose=WITHDRAW_PURPOSE, now=now)["l"])


class TestimonialView(BaseModel):
    id: int
    author: str
    session: str
    text: str
    scope: str
    scope_label: str
    named: bool
    consent_at: datetime
    approved: bool


async def testimonial_rows(session: AsyncSession, *, website_only: bool = False, approved_only: bool = False
                           ) -> list[TestimonialRow]:
    """Consented, not withdrawn testimonials (one query); the author as the learner allowed."""
    statement = (select(Testimonial, Learner.first_name, Learner.last_name, TrainingSession.title)
                 .join(Learner, col(Learner.id) == col(Testimonial.learner_id))
                 .outerjoin(TrainingSession, col(TrainingSession.id) == col(Testimonial.session_id))
                 .where(col(Testimonial.withdrawn_at).is_(None), col(Learner.erased_at).is_(None))
                 .order_by(col(Testimonial.consent_at).desc(), col(Testimonial.id).desc()))
    if website_only:
        statement = statement.where(col(Testimonial.scope) == ConsentScope.WEBSITE)
    if approved_only:
        statement = statement.where(col(Testimonial.approved_at).is_not(None))
    out: list[TestimonialRow] = []
    for item, first, last, title in (await session.exec(statement)).all():
        author = f"{first} {last[:1]}." if item.named and first else "Anonyme"
        out.append(TestimonialRow(item.id or 0, author, title or "", item.text, item.scope, item.named,
                                  item.consent_at, item.approved_at))
    return out


async def library(session: AsyncSession) -> list[TestimonialView]:
    """The quality manager's library page: everything consented, approved or waiting."""
    return [TestimonialView(id=t.id, author=t.author, session=t.session, text=t.text, scope=t.scope,
                            scope_label=SCOPE_LABELS.get(t.scope, t.scope), named=t.named, consent_at=t.consent_at,
                            approved=t.approved_at is not None) for t in await testimonial_rows(session)]


def export_csv(rows: list[TestimonialRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(("Auteur", "Session", "Témoignage", "Diffusion", "Consentement le"))
    for t in rows:
        writer.writerow([spreadsheet_safe(v) for v in (t.author, t.session, t.text, SCOPE_LABELS.get(t.scope, t.scope),
                                                        local(t.consent_at))])
    return "\ufeff" + out.getvalue()


def export_html(rows: list[TestimonialRow]) -> str:
    """A snippet to paste on the organisation's website (approved, website scope: filter before)."""
    items = "".join(f'<blockquote class="ancrage-temoignage"><p>{escape(t.text, quote=False)}</p>'
                    f"<footer>{escape(t.author, quote=False)}, {escape(t.session, quote=False)}</footer></blockquote>" for t in rows)
    return f'<section class="ancrage-temoignages" lang="fr">{items}</section>'
