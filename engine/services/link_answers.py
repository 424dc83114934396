"""What a one-tap answer page says back: right or wrong for a quiz, as the SMS does,
and the learner's own language when a link is expired or points at nothing."""

from __future__ import annotations

from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.core.grading import Grade, grade_answer
from engine.links import InvalidToken, row_id, signed_data
from engine.services.catalog import load_pinned
from engine.store.models import Delivery, Enrollment, Learner, Prompt


async def quiz_verdict(session: AsyncSession, *, prompt: Prompt, answer: str, locale: str) -> Grade | None:
    """The grade of a quiz or review answer given on the page (a letter), or None for other questions."""
    if prompt.kind not in ("quiz", "review") or len(answer) != 1 or not answer.isalpha():
        return None
    enrollment = await session.get(Enrollment, prompt.enrollment_id)
    if enrollment is None:
        return None
    try:
        pinned = await load_pinned(session, enrollment.campaign_version_id)
    except (LookupError, ValidationError, TypeError):  # the page still thanks; the worker grades
        return None
    bank_ref, _, item_id = prompt.question_ref.partition("#")
    bank = pinned.content.banks.get(bank_ref)
    item = bank.item(item_id) if bank is not None else None
    index = ord(answer.upper()) - ord("A")
    if item is None or not 0 <= index < len(item.choices):
        return None
    return grade_answer(item, index, locale=locale)


async def link_learner_locale(session: AsyncSession, *, secret: str, token: str, purpose: str) -> str | None:
    """The locale of the learner a genuine link was made for, even once it has expired."""
    try:
        data = signed_data(secret, token, purpose=purpose)
    except InvalidToken:
        return None
    learner_id = row_id(data.get("l"))
    delivery_id = row_id(data.get("d"))
    if learner_id is None and delivery_id is not None:
        delivery = await session.get(Delivery, delivery_id)
        learner_id = delivery.learner_id if delivery is not None else None
    learner = await session.get(Learner, learner_id) if learner_id is not None else None
    return learner.locale if learner is not None and learner.erased_at is None else None
