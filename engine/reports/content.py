"""What a stored answer was a reply to: question types and quiz items from pinned campaign versions.

Replies store ``{"question": "<survey ref>#<question id>", "value": ...}``; the
type (rating, NPS, yes/no...) and the quiz item's choices live in the content
snapshot of the campaign version the learner is enrolled in.
"""

from __future__ import annotations

from collections import OrderedDict
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
    """The index of some campaign versions: one small query, plus one for definitions not seen yet.

    Versions are immutable and named by the sha256 of their definition, so each one's part of the
    index is kept per process by that hash (:data:`_PARTS`), whatever database it came from.
    """
    ids = sorted(set(version_ids))
    index = ContentIndex()
    if not ids:
        return index
    hashes = dict((await db.exec(select(CampaignVersion.id, CampaignVersion.content_hash).where(
        col(CampaignVersion.id).in_(ids)))).all())
    missing = [vid for vid in ids if vid in hashes and hashes[vid] not in _PARTS]
    if missing:
        for version in (await db.exec(select(CampaignVersion).where(col(CampaignVersion.id).in_(missing)))).all():
            part = ContentIndex()
            _add_version(part, version)
            _remember(version.content_hash, part)
    for vid in ids:
        if vid in hashes:
            _merge(index, vid, _PARTS[hashes[vid]])
    return index


#: Each campaign version's part of an index, by content hash (most recently used last).
_PARTS: OrderedDict[str, ContentIndex] = OrderedDict()
_PARTS_KEPT = 256


def _remember(content_hash: str, part: ContentIndex) -> None:
    _PARTS[content_hash] = part
    _PARTS.move_to_end(content_hash)
    while len(_PARTS) > _PARTS_KEPT:
        _PARTS.popitem(last=False)


def _merge(index: ContentIndex, version_id: int, part: ContentIndex) -> None:
    index.questions.update(part.questions)
    index.items.update(part.items)
    for step, title in part.step_titles.items():
        index.step_titles.setdefault(step, title)
    for channels in part.channels.values():
        index.channels[version_id] = list(channels)


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
