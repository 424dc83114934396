"""What a stored answer was a reply to: question types and quiz items from pinned campaign versions.

Replies store ``{"question": "<survey ref>#<question id>", "value": ...}``; the
type (rating, NPS, yes/no...) and the quiz item's choices live in the content
snapshot of the campaign version the learner is enrolled in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.content.models import QuizItem
from engine.store.models import CampaignVersion

CPF_CRITERIA = ("accueil", "contenu", "equipe_pedagogique", "moyens", "accompagnement")


@dataclass(frozen=True)
class QuestionInfo:
    type: str
    text: str
    criterion: str | None = None
    survey: str = ""
    choices: tuple[str, ...] = ()


@dataclass
class ContentIndex:
    """Questions by ``ref#id`` and quiz items by ``bank#item`` across some campaign versions."""

    questions: dict[str, QuestionInfo] = field(default_factory=dict)
    items: dict[str, QuizItem] = field(default_factory=dict)
    step_titles: dict[str, str] = field(default_factory=dict)
    channels: dict[int, list[str]] = field(default_factory=dict)

    def question(self, ref: str) -> QuestionInfo | None:
        return self.questions.get(ref)


def answer_of(value: Any) -> tuple[str, Any]:
    """``(question ref, answer)`` from a reply's stored value."""
    if isinstance(value, dict):
        return str(value.get("question") or ""), value.get("value")
    return "", value


async def load_index(db: AsyncSession, version_ids: Iterable[int]) -> ContentIndex:
    """One query for every version's definition."""
    ids = sorted(set(version_ids))
    index = ContentIndex()
    if not ids:
        return index
    rows = (await db.exec(select(CampaignVersion).where(col(CampaignVersion.id).in_(ids)))).all()
    for version in rows:
        _add_version(index, version)
    return index


def _add_version(index: ContentIndex, version: CampaignVersion) -> None:
    definition = version.definition or {}
    content = definition.get("content", {})
    for table in ("surveys", "checkins"):
        for ref, survey in (content.get(table) or {}).items():
            for question in survey.get("questions", []):
                choices = tuple(c.get("label", c.get("value", "")) for c in question.get("choices", []))
                index.questions[f"{ref}#{question['id']}"] = QuestionInfo(
                    type=question.get("type", "text"), text=question.get("text", ""),
                    criterion=question.get("criterion"), survey=table, choices=choices)
    for ref, bank in (content.get("banks") or {}).items():
        for item in bank.get("items", []):
            index.items[f"{ref}#{item['id']}"] = QuizItem.model_validate(item)
    campaign = definition.get("campaign", {})
    for step in campaign.get("steps", []):
        index.step_titles.setdefault(step.get("id", ""), step.get("title") or step.get("id", ""))
    index.channels[version.id or 0] = list((campaign.get("defaults") or {}).get("channels") or ["sms"])
