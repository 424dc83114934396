"""The figures the dashboard's pages show, as small view models over plain values.

The arithmetic is :mod:`engine.core.indicators`' (share satisfied, mean, NPS), the one
module the evidence pack, the public page and the exports use too, so a page and the
pack never disagree on the same answers. What is kept here is the dashboard's shape: a
share with its ``n``, NPS with its three counts, a criterion's distribution, and which
answers a page figure counts (``hot_nps_scores``: the hot survey's, as the pack's NPS).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel

from engine.core import indicators
from engine.core.indicators import DETRACTOR_UP_TO, HOT, PROMOTER_FROM, SATISFIED_FROM
from engine.reports.content import ContentIndex

if TYPE_CHECKING:
    from engine.reports.facts import Answer

__all__ = ["DETRACTOR_UP_TO", "PROMOTER_FROM", "SATISFIED_FROM"]


class Rate(BaseModel):
    """A share with what it was computed from; ``value`` is None when ``n`` is 0."""

    part: int
    n: int

    @property
    def value(self) -> float | None:
        return indicators.share(self.part, self.n)


class Nps(BaseModel):
    promoters: int = 0
    passives: int = 0
    detractors: int = 0

    @property
    def n(self) -> int:
        return self.promoters + self.passives + self.detractors

    @property
    def score(self) -> float | None:
        """Promoters minus detractors, in points (-100..100)."""
        return indicators.nps_score(self.promoters, self.detractors, self.n)


class RatingSummary(BaseModel):
    """One 1–5 criterion: mean, share of satisfied (≥ 4/5), n and the count of each score."""

    mean: float | None
    satisfied: Rate
    distribution: list[int]


def rate(part: int, n: int) -> Rate:
    return Rate(part=part, n=n)


def satisfied_share(ratings: Iterable[int]) -> Rate:
    return rate(*indicators.satisfied_count(ratings))


def nps(scores: Iterable[int]) -> Nps:
    promoters, passives, detractors = indicators.nps_counts(scores)
    return Nps(promoters=promoters, passives=passives, detractors=detractors)


def rating_summary(ratings: Sequence[int]) -> RatingSummary:
    distribution = [sum(1 for v in ratings if v == score) for score in range(1, 6)]
    return RatingSummary(mean=indicators.mean_rating(ratings), satisfied=satisfied_share(ratings),
                         distribution=distribution)


def accuracy(answers: Iterable[bool]) -> Rate:
    values = list(answers)
    return rate(sum(1 for v in values if v), len(values))


def hot_nps_scores(answers: Iterable[Answer], index: ContentIndex) -> list[int]:
    """The 0..10 scores of hot-survey NPS questions (grouped rows count ``count`` times): the cold
    surveys' NPS is another figure, as in the evidence pack. The survey's kind is the pack's rule."""
    kinds: dict[str, str] = {}
    scores: list[int] = []
    for answer in answers:
        info = index.question(answer.question)
        if info is None or info.type != "nps" or not isinstance(answer.value, int) or isinstance(answer.value, bool):
            continue
        ref = answer.question.partition("#")[0]
        if ref not in kinds:
            rated = any(key.startswith(f"{ref}#") and q.criterion for key, q in index.questions.items())
            kinds[ref] = indicators.survey_kind_of(ref, has_criteria=rated)
        if kinds[ref] == HOT:
            scores.append(answer.value)
    return scores
