"""The quality indicators a training organisation is judged on, over plain rows.

One module computes every figure so that the dashboard, the exports, the public
page and the Qualiopi evidence pack agree. Each function takes the rows (frozen
dataclasses built by :mod:`engine.reports.evidence.rows`), a :class:`Period`
(calendar dates in a time zone: a reply at 23:30 Paris on 31 March belongs to
March) and the computation time, and returns an :class:`Indicator` with its
value, ``n`` (the observations behind the value), ``population`` (who could
have been counted) and counts. Nothing here touches the database or the clock.

Rates are fractions (0..1); NPS is -100..100; means are on the 1..5 scale;
response times are in hours; complaints are per 100 learners.
"""

from __future__ import annotations

import statistics
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

#: The five quality criteria of the CPF hot survey, in the order they are shown.
CRITERIA: tuple[str, ...] = ("accueil", "contenu", "equipe_pedagogique", "moyens", "accompagnement")
CRITERION_LABELS: dict[str, str] = {
    "accueil": "Accueil et organisation",
    "contenu": "Contenu",
    "equipe_pedagogique": "Équipe pédagogique",
    "moyens": "Moyens mis à disposition",
    "accompagnement": "Accompagnement",
}
#: Below this many respondents a figure is never published (nobody is identifiable).
SMALL_N_DEFAULT = 5
RESPONSE_TARGET = timedelta(hours=48)
REENROLMENT_WINDOW = timedelta(days=365)

HOT, COLD, TESTIMONIAL = "hot", "cold", "testimonial"
COMPLAINT = "reclamation"


@dataclass(frozen=True)
class Period:
    """Calendar days ``start``..``end`` (both included) as lived in ``timezone``."""

    start: date
    end: date
    timezone: str = "Europe/Paris"

    def contains(self, moment: datetime | None) -> bool:
        if moment is None:
            return False
        low, high = self.bounds
        return low <= moment < high

    @cached_property
    def bounds(self) -> tuple[datetime, datetime]:
        """Local midnight of the first day and of the day after the last (DST-aware), once,
        expressed in UTC: rows carry UTC times, and comparing two datetimes of the same
        ``tzinfo`` skips the per-comparison offset lookup (70 times faster than against a
        ``ZoneInfo`` bound; it was the pack's first hot spot)."""
        zone = ZoneInfo(self.timezone)
        return (datetime.combine(self.start, time.min, zone).astimezone(UTC),
                datetime.combine(self.end + timedelta(days=1), time.min, zone).astimezone(UTC))

    def previous(self) -> Period:
        """The period of the same length just before this one (for trends)."""
        length = self.end - self.start
        end = self.start - timedelta(days=1)
        return Period(end - length, end, self.timezone)

    @property
    def label(self) -> str:
        return f"du {self.start:%d/%m/%Y} au {self.end:%d/%m/%Y}"


# --- rows -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SurveyAnswer:
    """One answer to one survey question. ``topic`` says what it measures:
    a CPF criterion, ``nps``, ``application``, ``results``, ``consent``... or None."""

    learner_id: int
    session_id: int | None
    programme: str
    survey_ref: str
    survey_kind: str  # hot | cold | testimonial | other
    question_id: str
    question_type: str  # rating | nps | yes_no | choice | text
    topic: str | None
    value: object
    answered_at: datetime


@dataclass(frozen=True)
class Solicitation:
    """One survey sent to one learner (its first question), with its reminders."""

    learner_id: int
    session_id: int | None
    programme: str
    survey_ref: str
    survey_kind: str
    step_id: str
    sent_at: datetime
    reminders_at: tuple[datetime, ...] = ()
    answered_at: datetime | None = None


@dataclass(frozen=True)
class PromptRow:
    """Any question put to a learner (survey, quiz, review, check-in), answered or not: what
    the dashboard's response rate counts (a superseded question is not one)."""

    learner_id: int
    session_id: int | None
    programme: str
    opened_at: datetime
    answered: bool


@dataclass(frozen=True)
class TicketRow:
    """A learner request: when it came, when a human first answered, what it was."""

    ticket_id: int
    learner_id: int | None
    session_id: int | None
    programme: str
    received_at: datetime
    first_human_response_at: datetime | None
    category: str  # question | difficulte | reclamation
    channel: str = "sms"
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    corrective_action_id: int | None = None
    body: str = ""


@dataclass(frozen=True)
class EnrolmentRow:
    """A learner's follow-up campaign and, when the organisation gave it, the training's outcome."""

    learner_id: int
    session_id: int | None
    programme: str
    session_end: datetime
    status: str  # active | paused | stopped | completed
    campaign_end: datetime | None
    stopped_at: datetime | None = None
    opted_out_at: datetime | None = None
    training_completion: str | None = None  # completed | abandoned | None (not provided)


@dataclass(frozen=True)
class Attendee:
    """A learner at one session, with their employer (client company)."""

    learner_id: int
    session_id: int
    programme: str
    company: str | None
    session_start: datetime
    session_end: datetime


@dataclass(frozen=True)
class QuizAnswer:
    learner_id: int
    session_id: int | None
    programme: str
    answered_at: datetime
    correct: bool


@dataclass(frozen=True)
class ReviewRetention:
    """A learner's estimated recall probability of one quiz item at computation time."""

    learner_id: int
    programme: str
    session_end: datetime
    retrievability: float


@dataclass(frozen=True)
class EvidenceRows:
    """Everything the indicators are computed from, for one organisation (or one scope of it).

    ``attendees`` are the scope's learners (the population of per-learner rates such as
    complaints per 100 learners); ``history`` is every attendance of the organisation, where
    re-enrolment looks for a later session (empty: the same as ``attendees``).
    """

    answers: tuple[SurveyAnswer, ...] = ()
    solicitations: tuple[Solicitation, ...] = ()
    tickets: tuple[TicketRow, ...] = ()
    enrolments: tuple[EnrolmentRow, ...] = ()
    attendees: tuple[Attendee, ...] = ()
    quiz_answers: tuple[QuizAnswer, ...] = ()
    retention: tuple[ReviewRetention, ...] = ()
    history: tuple[Attendee, ...] = ()
    prompts: tuple[PromptRow, ...] = ()

    @property
    def all_attendances(self) -> tuple[Attendee, ...]:
        return self.history or self.attendees

    def for_programme(self, programme: str) -> EvidenceRows:
        """Only the rows of one programme (the whole history stays for re-enrolment)."""
        return self._where(lambda row: getattr(row, "programme", None) == programme, keep_retention=False)

    def for_session(self, session_id: int) -> EvidenceRows:
        return self._where(lambda row: getattr(row, "session_id", None) == session_id, keep_retention=True)

    def within(self, period: Period) -> EvidenceRows:
        """Only the rows each indicator would count for ``period`` (by the same timestamp it uses):
        one pass instead of one per indicator. Attendees stay whole (re-enrolment looks ahead)."""
        inside = period.contains
        return EvidenceRows(
            answers=tuple(r for r in self.answers if inside(r.answered_at)),
            solicitations=tuple(r for r in self.solicitations if inside(r.sent_at)),
            tickets=tuple(r for r in self.tickets if inside(r.received_at)),
            enrolments=tuple(r for r in self.enrolments if inside(r.session_end)),
            attendees=self.attendees,
            quiz_answers=tuple(r for r in self.quiz_answers if inside(r.answered_at)),
            retention=tuple(r for r in self.retention if inside(r.session_end)),
            history=self.history,
            prompts=tuple(r for r in self.prompts if inside(r.opened_at)),
        )

    def split(self, periods: Sequence[Period]) -> list[EvidenceRows]:
        """``[self.within(p) for p in periods]`` for consecutive periods (the months of a trend), in
        one pass over the rows instead of one per period."""
        starts = [p.bounds[0] for p in periods]
        ends = [p.bounds[1] for p in periods]

        def spread(rows: Sequence[Any], moment: Callable[[Any], datetime]) -> list[tuple[Any, ...]]:
            buckets: list[list[Any]] = [[] for _ in periods]
            for row in rows:
                at = moment(row)
                i = bisect_right(starts, at) - 1
                if i >= 0 and at < ends[i]:
                    buckets[i].append(row)
            return [tuple(b) for b in buckets]

        parts = (spread(self.answers, lambda r: r.answered_at), spread(self.solicitations, lambda r: r.sent_at),
                 spread(self.tickets, lambda r: r.received_at), spread(self.enrolments, lambda r: r.session_end),
                 spread(self.quiz_answers, lambda r: r.answered_at), spread(self.retention, lambda r: r.session_end),
                 spread(self.prompts, lambda r: r.opened_at))
        return [EvidenceRows(answers=a, solicitations=so, tickets=t, enrolments=e, attendees=self.attendees,
                             quiz_answers=q, retention=r, history=self.history, prompts=pr)
                for a, so, t, e, q, r, pr in zip(*parts, strict=True)]

    def _where(self, keep: Callable[[object], bool], *, keep_retention: bool) -> EvidenceRows:
        return EvidenceRows(
            answers=tuple(filter(keep, self.answers)),
            solicitations=tuple(filter(keep, self.solicitations)),
            tickets=tuple(filter(keep, self.tickets)),
            enrolments=tuple(filter(keep, self.enrolments)),
            attendees=tuple(filter(keep, self.attendees)),
            quiz_answers=tuple(filter(keep, self.quiz_answers)),
            retention=self.retention if keep_retention else tuple(filter(keep, self.retention)),
            history=self.all_attendances,
            prompts=tuple(filter(keep, self.prompts)),
        )

    def programmes(self) -> list[str]:
        names = {r.programme for r in self.attendees} | {r.programme for r in self.answers}
        return sorted(names)


# --- result -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Indicator:
    """One computed figure, dated, with what it was computed on."""

    key: str
    label: str
    value: float | None
    n: int
    population: int
    period: Period
    computed_at: datetime
    unit: str = "%"  # % (a fraction) | nps | /5 | h | /100
    programme: str | None = None
    counts: tuple[tuple[str, int], ...] = field(default_factory=tuple)

    def publishable(self, threshold: int = SMALL_N_DEFAULT) -> bool:
        """Whether the figure may be shown outside: computed on at least ``threshold`` respondents."""
        return self.value is not None and self.n >= threshold

    def count(self, name: str) -> int:
        return dict(self.counts).get(name, 0)

    def formatted(self) -> str:
        """The value as a French reader expects it (``87 %``, ``+42``, ``4,3/5``)."""
        return format_value(self.value, self.unit)


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "%":
        return f"{round(value * 100)} %"
    if unit == "nps":
        return f"{value:+.0f}"
    if unit == "/5":
        return f"{value:.1f}/5".replace(".", ",")
    if unit == "h":
        return f"{value:.1f} h".replace(".", ",")
    if unit == "/100":
        return f"{value:.1f} pour 100".replace(".", ",")
    return f"{value:g}"


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# --- the arithmetic every page shares (the dashboard's figures call these too) ------------

#: A rating at or above this is "satisfied"; NPS promoters from 9, detractors up to 6.
SATISFIED_FROM = 4
PROMOTER_FROM = 9
DETRACTOR_UP_TO = 6


def share(part: int, whole: int) -> float | None:
    """``part / whole``, or None when nothing was counted."""
    return _ratio(part, whole)


def satisfied_count(ratings: Iterable[int]) -> tuple[int, int]:
    """(ratings at 4 or 5, all ratings)."""
    values = list(ratings)
    return sum(1 for v in values if v >= SATISFIED_FROM), len(values)


def mean_rating(ratings: Sequence[int]) -> float | None:
    return statistics.fmean(ratings) if ratings else None


def nps_counts(scores: Iterable[int]) -> tuple[int, int, int]:
    """(promoters, passives, detractors) of 0..10 scores."""
    values = list(scores)
    promoters = sum(1 for s in values if s >= PROMOTER_FROM)
    detractors = sum(1 for s in values if s <= DETRACTOR_UP_TO)
    return promoters, len(values) - promoters - detractors, detractors


def nps_score(promoters: int, detractors: int, n: int) -> float | None:
    """% promoters minus % detractors (-100..100), or None with no score."""
    return (promoters - detractors) * 100 / n if n else None


def survey_kind_of(ref: str, *, has_criteria: bool = False) -> str:
    """hot, cold, testimonial or other, from the survey's name (and whether it rates CPF criteria)."""
    name = ref.lower()
    if "temoignage" in name or "testimonial" in name:
        return TESTIMONIAL
    if "froid" in name or "cold" in name:
        return COLD
    if "chaud" in name or "hot" in name or has_criteria:
        return HOT
    return "other"


# --- satisfaction (indicator 30) ---------------------------------------------------------


def _ratings(rows: EvidenceRows, period: Period, criterion: str | None) -> list[SurveyAnswer]:
    wanted = CRITERIA if criterion is None else (criterion,)
    return [a for a in rows.answers
            if a.survey_kind == HOT and a.topic in wanted and _is_int(a.value) and period.contains(a.answered_at)]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def satisfaction_rate(rows: EvidenceRows, period: Period, *, now: datetime,
                      criterion: str | None = None) -> Indicator:
    """Share of hot-survey ratings at 4 or 5, over all five criteria or one; n = respondents."""
    ratings = _ratings(rows, period, criterion)
    satisfied, _ = satisfied_count(_as_int(a.value) for a in ratings)
    respondents = len({a.learner_id for a in ratings})
    label = "Satisfaction (notes 4 et 5)"
    if criterion is not None:
        label = f"Satisfaction — {CRITERION_LABELS.get(criterion, criterion)}"
    return Indicator(f"satisfaction.{criterion or 'global'}", label, _ratio(satisfied, len(ratings)),
                     respondents, _solicited(rows, period, HOT), period, now,
                     counts=(("notes", len(ratings)), ("satisfaits", satisfied)))


def criterion_mean(rows: EvidenceRows, period: Period, *, now: datetime, criterion: str) -> Indicator:
    """Mean hot-survey rating (1..5) of one criterion."""
    ratings = _ratings(rows, period, criterion)
    mean = mean_rating([_as_int(a.value) for a in ratings])
    return Indicator(f"moyenne.{criterion}", f"Note moyenne — {CRITERION_LABELS.get(criterion, criterion)}",
                     mean, len({a.learner_id for a in ratings}), _solicited(rows, period, HOT), period, now,
                     unit="/5", counts=(("notes", len(ratings)),))


def _as_int(value: object) -> int:
    assert isinstance(value, int)
    return value


def nps(rows: EvidenceRows, period: Period, *, now: datetime, survey_kind: str = HOT) -> Indicator:
    """Net promoter score: % promoters (9-10) minus % detractors (0-6), with the three counts."""
    scores = [_as_int(a.value) for a in rows.answers
              if a.survey_kind == survey_kind and a.question_type == "nps" and _is_int(a.value)
              and period.contains(a.answered_at)]
    promoters, passives, detractors = nps_counts(scores)
    value = nps_score(promoters, detractors, len(scores))
    label = "NPS à chaud" if survey_kind == HOT else "NPS à froid"
    return Indicator(f"nps.{survey_kind}", label, value, len(scores), _solicited(rows, period, survey_kind),
                     period, now, unit="nps",
                     counts=(("promoteurs", promoters), ("passifs", passives), ("detracteurs", detractors)))


def _solicited(rows: EvidenceRows, period: Period, kind: str) -> int:
    return sum(1 for s in rows.solicitations if s.survey_kind == kind and period.contains(s.sent_at))


def response_rate(rows: EvidenceRows, period: Period, *, now: datetime, survey_kind: str) -> Indicator:
    """Share of surveys sent in the period that were answered, with the reminders sent for them."""
    sent = [s for s in rows.solicitations if s.survey_kind == survey_kind and period.contains(s.sent_at)]
    answered = sum(1 for s in sent if s.answered_at is not None)
    reminders = sum(len(s.reminders_at) for s in sent)
    after_reminder = sum(1 for s in sent if s.answered_at is not None and s.reminders_at
                         and s.answered_at > min(s.reminders_at))
    label = {HOT: "Taux de réponse au questionnaire à chaud", COLD: "Taux de réponse au questionnaire à froid"}.get(
        survey_kind, f"Taux de réponse au questionnaire ({survey_kind})")
    return Indicator(f"reponse.{survey_kind}", label, _ratio(answered, len(sent)), answered, len(sent),
                     period, now, counts=(("envoyes", len(sent)), ("repondus", answered),
                                          ("relances", reminders), ("repondus_apres_relance", after_reminder)))


def all_questions_response_rate(rows: EvidenceRows, period: Period, *, now: datetime) -> Indicator:
    """Share of every question put in the period (surveys, quizzes, reviews, check-ins) that was
    answered: the dashboard's « Taux de réponse (toutes questions) », so the auditor can compare."""
    asked = [p for p in rows.prompts if period.contains(p.opened_at)]
    answered = sum(1 for p in asked if p.answered)
    return Indicator("reponse.toutes", "Taux de réponse, toutes questions (comme le tableau de bord)",
                     _ratio(answered, len(asked)), answered, len(asked), period, now,
                     counts=(("questions", len(asked)), ("repondues", answered)))


# --- requests and complaints (indicator 31) -----------------------------------------------


def answered_within_target(rows: EvidenceRows, period: Period, *, now: datetime,
                           target: timedelta = RESPONSE_TARGET) -> Indicator:
    """Share of learner requests answered by a human within the target (48 h).

    A request still open whose deadline has not passed at ``now`` is not counted yet.
    """
    counted = 0
    on_time = 0
    pending = 0
    for t in rows.tickets:
        if not period.contains(t.received_at):
            continue
        answered = t.first_human_response_at
        if answered is None and now - t.received_at < target:
            pending += 1
            continue
        counted += 1
        if answered is not None and answered - t.received_at <= target:
            on_time += 1
    hours = int(target.total_seconds() // 3600)
    return Indicator("demandes.delai", f"Demandes traitées par un humain sous {hours} h",
                     _ratio(on_time, counted), counted, counted + pending, period, now,
                     counts=(("dans_le_delai", on_time), ("hors_delai", counted - on_time), ("en_cours", pending)))


def median_first_response(rows: EvidenceRows, period: Period, *, now: datetime) -> Indicator:
    """Median time (hours) from a request to its first human answer, over answered requests."""
    delays = [(t.first_human_response_at - t.received_at).total_seconds() / 3600 for t in rows.tickets
              if period.contains(t.received_at) and t.first_human_response_at is not None]
    total = sum(1 for t in rows.tickets if period.contains(t.received_at))
    return Indicator("demandes.mediane", "Délai médian de première réponse", statistics.median(delays)
                     if delays else None, len(delays), total, period, now, unit="h")


def _learners_in(rows: EvidenceRows, period: Period) -> set[int]:
    return {a.learner_id for a in rows.attendees if period.contains(a.session_end)}


def complaint_rate(rows: EvidenceRows, period: Period, *, now: datetime) -> Indicator:
    """Complaints received in the period per 100 learners (of the rows' scope) whose session ended in it."""
    complaints = sum(1 for t in rows.tickets if t.category == COMPLAINT and period.contains(t.received_at))
    learners = len(_learners_in(rows, period))
    value = complaints * 100 / learners if learners else None
    return Indicator("reclamations.taux", "Réclamations pour 100 stagiaires", value, learners, learners,
                     period, now, unit="/100", counts=(("reclamations", complaints),))


# --- follow-up and training outcome ------------------------------------------------------


def dropout_rate(rows: EvidenceRows, period: Period, *, now: datetime) -> Indicator:
    """Enrolments (sessions ended in the period) stopped or opted out before the campaign's end."""
    enrolments = [e for e in rows.enrolments if period.contains(e.session_end)]
    dropped = 0
    for e in enrolments:
        end = e.campaign_end
        left = e.status == "stopped" and (end is None or e.stopped_at is None or e.stopped_at < end)
        opted = e.opted_out_at is not None and (end is None or e.opted_out_at < end)
        dropped += left or opted
    return Indicator("suivi.abandon", "Abandon du suivi (arrêt ou STOP avant la fin)",
                     _ratio(dropped, len(enrolments)), len(enrolments), len(enrolments), period, now,
                     counts=(("abandons", dropped),))


def training_completion(rows: EvidenceRows, period: Period, *, now: datetime,
                        outcome: str = "completed") -> Indicator:
    """The training's own completion (or abandonment) rate, over attendees the organisation reported."""
    ended = [e for e in rows.enrolments if period.contains(e.session_end)]
    reported = {(e.learner_id, e.session_id): e.training_completion for e in ended
                if e.training_completion is not None}
    matching = sum(1 for v in reported.values() if v == outcome)
    key, label = (("formation.achevement", "Taux d'achèvement de la formation") if outcome == "completed"
                  else ("formation.abandon", "Taux d'abandon de la formation"))
    everyone = len({(e.learner_id, e.session_id) for e in ended})
    return Indicator(key, label, _ratio(matching, len(reported)), len(reported), everyone, period, now,
                     counts=((outcome, matching),))


def application_rate(rows: EvidenceRows, period: Period, *, now: datetime) -> Indicator:
    """Cold survey: share who could apply what they learned ("avez-vous pu appliquer ?")."""
    answers = [a for a in rows.answers if a.survey_kind == COLD and a.topic == "application"
               and isinstance(a.value, bool) and period.contains(a.answered_at)]
    yes = sum(1 for a in answers if a.value is True)
    return Indicator("froid.application", "Mise en pratique déclarée à froid", _ratio(yes, len(answers)),
                     len(answers), _solicited(rows, period, COLD), period, now,
                     counts=(("oui", yes), ("non", len(answers) - yes)))


def declared_results(rows: EvidenceRows, period: Period, *, now: datetime) -> Indicator:
    """Cold survey: share of respondents who described a concrete result."""
    respondents = {a.learner_id for a in rows.answers if a.survey_kind == COLD and period.contains(a.answered_at)}
    declaring = {a.learner_id for a in rows.answers if a.survey_kind == COLD and a.topic == "results"
                 and isinstance(a.value, str) and a.value.strip() and period.contains(a.answered_at)}
    return Indicator("froid.resultats", "Résultats concrets déclarés à froid",
                     _ratio(len(declaring), len(respondents)), len(respondents),
                     _solicited(rows, period, COLD), period, now, counts=(("resultats", len(declaring)),))


def reenrolment_rate(rows: EvidenceRows, period: Period, *, now: datetime, by: str = "learner",
                     window: timedelta = REENROLMENT_WINDOW) -> Indicator:
    """Learners (or client companies) of sessions ended in the period who came back for
    another session starting within ``window`` after that end."""
    def who(a: Attendee) -> str | int | None:
        return a.learner_id if by == "learner" else a.company

    starts: dict[str | int, list[datetime]] = {}
    for a in rows.all_attendances:
        key = who(a)
        if key is not None:
            starts.setdefault(key, []).append(a.session_start)
    ends: dict[str | int, list[tuple[int, datetime]]] = {}
    for a in rows.attendees:
        key = who(a)
        if key is not None and period.contains(a.session_end):
            ends.setdefault(key, []).append((a.session_id, a.session_end))
    returned = 0
    for key, sessions in ends.items():
        if any(end < start <= end + window for _, end in sessions for start in starts[key]):
            returned += 1
    label = "Réinscription des stagiaires (12 mois)" if by == "learner" else "Réinscription des entreprises (12 mois)"
    return Indicator(f"reinscription.{by}", label, _ratio(returned, len(ends)), len(ends), len(ends), period,
                     now, counts=(("revenus", returned),))


def quiz_success(rows: EvidenceRows, period: Period, *, now: datetime) -> Indicator:
    """Share of quiz and review answers that were right."""
    answers = [q for q in rows.quiz_answers if period.contains(q.answered_at)]
    right = sum(1 for q in answers if q.correct)
    return Indicator("quiz.reussite", "Réponses justes aux quiz et révisions (toutes tentatives)",
                     _ratio(right, len(answers)),
                     len({q.learner_id for q in answers}), len(answers), period, now,
                     counts=(("reponses", len(answers)), ("justes", right)))


def estimated_retention(rows: EvidenceRows, period: Period, *, now: datetime) -> Indicator:
    """Mean estimated recall probability (FSRS) of the items of learners whose session ended in the period."""
    cards = [r for r in rows.retention if period.contains(r.session_end)]
    mean = statistics.fmean(r.retrievability for r in cards) if cards else None
    return Indicator("quiz.retention", "Rétention estimée", mean, len({r.learner_id for r in cards}),
                     len(cards), period, now, counts=(("cartes", len(cards)),))


# --- all together -----------------------------------------------------------------------

IndicatorFn = Callable[[EvidenceRows, Period, datetime], Indicator]


def _catalogue() -> list[IndicatorFn]:
    def bind(fn: Callable[..., Indicator], **kwargs: object) -> IndicatorFn:
        return lambda rows, period, now: fn(rows, period, now=now, **kwargs)

    fns: list[IndicatorFn] = [bind(satisfaction_rate)]
    fns += [bind(satisfaction_rate, criterion=c) for c in CRITERIA]
    fns += [bind(criterion_mean, criterion=c) for c in CRITERIA]
    fns += [bind(nps), bind(nps, survey_kind=COLD)]
    fns += [bind(response_rate, survey_kind=HOT), bind(response_rate, survey_kind=COLD),
            bind(all_questions_response_rate)]
    fns += [bind(answered_within_target), bind(median_first_response), bind(complaint_rate)]
    fns += [bind(dropout_rate), bind(training_completion), bind(training_completion, outcome="abandoned")]
    fns += [bind(application_rate), bind(declared_results)]
    fns += [bind(reenrolment_rate), bind(reenrolment_rate, by="company")]
    fns += [bind(quiz_success), bind(estimated_retention)]
    return fns


CATALOGUE: tuple[IndicatorFn, ...] = tuple(_catalogue())


def all_indicators(rows: EvidenceRows, period: Period, *, now: datetime,
                   programme: str | None = None) -> list[Indicator]:
    """Every indicator for the organisation, or for one programme (tagged with its name)."""
    scoped = (rows if programme is None else rows.for_programme(programme)).within(period)
    out = [fn(scoped, period, now) for fn in CATALOGUE]
    if programme is None:
        return out
    return [replace(i, programme=programme) for i in out]


def by_key(indicators: Iterable[Indicator]) -> dict[str, Indicator]:
    return {i.key: i for i in indicators}


def publishable(indicators: Sequence[Indicator], *, threshold: int = SMALL_N_DEFAULT,
                chosen: Iterable[str] | None = None) -> list[Indicator]:
    """What may be published: the chosen keys, and only figures on at least ``threshold`` respondents."""
    keys = set(chosen) if chosen is not None else None
    return [i for i in indicators if (keys is None or i.key in keys) and i.publishable(threshold)]


def monthly_periods(period: Period) -> list[Period]:
    """The calendar months covering ``period`` (clipped to it), for trend charts."""
    months: list[Period] = []
    cursor = period.start.replace(day=1)
    while cursor <= period.end:
        nxt = (cursor.replace(day=28) + timedelta(days=4)).replace(day=1)
        months.append(Period(max(cursor, period.start), min(nxt - timedelta(days=1), period.end), period.timezone))
        cursor = nxt
    return months
