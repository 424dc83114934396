"""The figures the pages show, as small pure functions over plain values.

Kept apart from the queries so that the overview, the session page and the
CSV exports compute a figure the same way (and so that the shared indicators
module can replace them one by one).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import BaseModel

SATISFIED_FROM = 4
PROMOTER_FROM = 9
DETRACTOR_UP_TO = 6


class Rate(BaseModel):
    """A share with what it was computed from; ``value`` is None when ``n`` is 0."""

    part: int
    n: int

    @property
    def value(self) -> float | None:
        return self.part / self.n if self.n else None


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
        return 100 * (self.promoters - self.detractors) / self.n if self.n else None


class RatingSummary(BaseModel):
    """One 1–5 criterion: mean, share of satisfied (≥ 4/5), n and the count of each score."""

    mean: float | None
    satisfied: Rate
    distribution: list[int]


def rate(part: int, n: int) -> Rate:
    return Rate(part=part, n=n)


def satisfied_share(ratings: Iterable[int]) -> Rate:
    values = list(ratings)
    return rate(sum(1 for v in values if v >= SATISFIED_FROM), len(values))


def nps(scores: Iterable[int]) -> Nps:
    result = Nps()
    for score in scores:
        if score >= PROMOTER_FROM:
            result.promoters += 1
        elif score <= DETRACTOR_UP_TO:
            result.detractors += 1
        else:
            result.passives += 1
    return result


def rating_summary(ratings: Sequence[int]) -> RatingSummary:
    distribution = [sum(1 for v in ratings if v == score) for score in range(1, 6)]
    mean = sum(ratings) / len(ratings) if ratings else None
    return RatingSummary(mean=mean, satisfied=satisfied_share(ratings), distribution=distribution)


def accuracy(answers: Iterable[bool]) -> Rate:
    values = list(answers)
    return rate(sum(1 for v in values if v), len(values))
