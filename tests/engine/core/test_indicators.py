"""Quality indicators on hand-computed fixtures: values, n, population, the small-n rule,
empty periods and period edges in the Paris time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from engine.core.indicators import (
    COLD,
    HOT,
    Attendee,
    EnrolmentRow,
    EvidenceRows,
    Indicator,
    Period,
    PromptRow,
    QuizAnswer,
    ReviewRetention,
    Solicitation,
    SurveyAnswer,
    TicketRow,
    all_indicators,
    answered_within_target,
    application_rate,
    by_key,
    complaint_rate,
    criterion_mean,
    declared_results,
    dropout_rate,
    estimated_retention,
    format_value,
    median_first_response,
    monthly_periods,
    nps,
    publishable,
    quiz_success,
    reenrolment_rate,
    response_rate,
    satisfaction_rate,
    training_completion,
)

MARCH = Period(date(2026, 3, 1), date(2026, 3, 31))
APRIL = Period(date(2026, 4, 1), date(2026, 4, 30))
NOW = datetime(2026, 5, 15, 12, tzinfo=UTC)
MID_MARCH = datetime(2026, 3, 10, 10, tzinfo=UTC)


def rating(learner: int, criterion: str, value: int, at: datetime = MID_MARCH, programme: str = "P") -> SurveyAnswer:
    return SurveyAnswer(learner, 1, programme, "satisfaction-chaud", HOT, criterion.replace("_", "-"),
                        "rating", criterion, value, at)


def score(learner: int, value: int, kind: str = HOT, at: datetime = MID_MARCH) -> SurveyAnswer:
    return SurveyAnswer(learner, 1, "P", "s", kind, "nps", "nps", "nps", value, at)


def cold(learner: int, topic: str, value: object, question_type: str = "yes_no") -> SurveyAnswer:
    return SurveyAnswer(learner, 1, "P", "satisfaction-froid", COLD, topic, question_type, topic, value, MID_MARCH)


def ticket(received: datetime, answered: datetime | None, category: str = "question") -> TicketRow:
    return TicketRow(1, 1, 1, "P", received, answered, category)


# Ratings: learner 1 → 5, 4, 2 ; learner 2 → 3, 4 ; learner 3 → 5 (in April, outside March).
RATINGS = EvidenceRows(answers=(
    rating(1, "accueil", 5), rating(1, "contenu", 4), rating(1, "moyens", 2),
    rating(2, "accueil", 3), rating(2, "contenu", 4),
    rating(3, "accueil", 5, at=datetime(2026, 4, 2, tzinfo=UTC)),
    score(1, 10),  # an NPS answer is not a criterion rating
))


@pytest.mark.parametrize(("criterion", "value", "n", "ratings"), [
    (None, 3 / 5, 2, 5),            # 5, 4, 4 satisfied out of 5, 4, 2, 3, 4
    ("accueil", 1 / 2, 2, 2),       # 5 and 3
    ("contenu", 1.0, 2, 2),
    ("moyens", 0.0, 1, 1),
    ("accompagnement", None, 0, 0),  # nobody rated it
])
def test_satisfaction_rate(criterion: str | None, value: float | None, n: int, ratings: int) -> None:
    result = satisfaction_rate(RATINGS, MARCH, now=NOW, criterion=criterion)
    assert result.value == value
    assert (result.n, result.count("notes")) == (n, ratings)
    assert result.period == MARCH and result.computed_at == NOW


@pytest.mark.parametrize(("criterion", "mean"), [("accueil", 4.0), ("contenu", 4.0), ("moyens", 2.0),
                                                 ("equipe_pedagogique", None)])
def test_criterion_mean(criterion: str, mean: float | None) -> None:
    assert criterion_mean(RATINGS, MARCH, now=NOW, criterion=criterion).value == mean


@pytest.mark.parametrize(("scores", "value", "counts"), [
    ([10, 9, 8, 7, 6, 0], 0.0, (2, 2, 2)),
    ([10, 10, 10, 5], 50.0, (3, 0, 1)),
    ([7, 8], 0.0, (0, 2, 0)),
    ([0], -100.0, (0, 0, 1)),
    ([], None, (0, 0, 0)),
])
def test_nps(scores: list[int], value: float | None, counts: tuple[int, int, int]) -> None:
    hot = [score(i, s) for i, s in enumerate(scores)]
    rows = EvidenceRows(answers=(*hot, score(99, 0, kind=COLD)))  # a cold NPS is not the hot one
    result = nps(rows, MARCH, now=NOW)
    assert result.value == value
    assert (result.count("promoteurs"), result.count("passifs"), result.count("detracteurs")) == counts
    assert result.n == len(scores)


def test_cold_nps_is_separate() -> None:
    rows = EvidenceRows(answers=(score(1, 10), score(2, 3, kind=COLD)))
    assert nps(rows, MARCH, now=NOW, survey_kind=COLD).value == -100.0


def solicitation(kind: str, sent: datetime, reminders: int = 0, answered: timedelta | None = None) -> Solicitation:
    return Solicitation(1, 1, "P", "s", kind, "step", sent,
                        tuple(sent + timedelta(days=d + 1) for d in range(reminders)),
                        sent + answered if answered is not None else None)


def test_response_rates_count_reminders_and_answers_after_them() -> None:
    rows = EvidenceRows(solicitations=(
        solicitation(HOT, MID_MARCH, answered=timedelta(hours=1)),
        solicitation(HOT, MID_MARCH, reminders=1, answered=timedelta(days=2)),  # after the reminder
        solicitation(HOT, MID_MARCH, reminders=2),
        solicitation(HOT, MID_MARCH),
        solicitation(COLD, MID_MARCH, reminders=1, answered=timedelta(hours=3)),  # before the reminder
        solicitation(HOT, datetime(2026, 4, 1, 9, tzinfo=UTC), answered=timedelta(hours=1)),
    ))
    hot = response_rate(rows, MARCH, now=NOW, survey_kind=HOT)
    assert (hot.value, hot.n, hot.population) == (0.5, 2, 4)
    assert (hot.count("relances"), hot.count("repondus_apres_relance")) == (3, 1)
    cold_rate = response_rate(rows, MARCH, now=NOW, survey_kind=COLD)
    assert (cold_rate.value, cold_rate.count("relances"), cold_rate.count("repondus_apres_relance")) == (1.0, 1, 0)


@pytest.mark.parametrize(("tickets", "value", "counted", "pending"), [
    # 10 h, 47 h 59, 48 h exactly: on time; 49 h: late; unanswered 5 days: late.
    ([timedelta(hours=10), timedelta(hours=47, minutes=59), timedelta(hours=48),
      timedelta(hours=49), None], 3 / 5, 5, 0),
    ([], None, 0, 0),
])
def test_answered_within_48h(tickets: list[timedelta | None], value: float | None, counted: int,
                             pending: int) -> None:
    rows = EvidenceRows(tickets=tuple(ticket(MID_MARCH, MID_MARCH + d if d else None) for d in tickets))
    result = answered_within_target(rows, MARCH, now=NOW)
    assert (result.value, result.n, result.count("en_cours")) == (value, counted, pending)


def test_an_open_request_inside_its_48h_is_pending_not_late() -> None:
    now = datetime(2026, 3, 31, 12, tzinfo=UTC)
    rows = EvidenceRows(tickets=(ticket(now - timedelta(hours=5), None),
                                 ticket(now - timedelta(hours=60), None),
                                 ticket(now - timedelta(hours=70), now - timedelta(hours=69))))
    result = answered_within_target(rows, MARCH, now=now)
    assert (result.value, result.n, result.population, result.count("en_cours")) == (0.5, 2, 3, 1)


def test_median_first_response_hours() -> None:
    rows = EvidenceRows(tickets=(ticket(MID_MARCH, MID_MARCH + timedelta(hours=2)),
                                 ticket(MID_MARCH, MID_MARCH + timedelta(hours=30)),
                                 ticket(MID_MARCH, MID_MARCH + timedelta(hours=5)),
                                 ticket(MID_MARCH, None)))
    result = median_first_response(rows, MARCH, now=NOW)
    assert (result.value, result.n, result.population) == (5.0, 3, 4)
    assert result.formatted() == "5,0 h"


def attendee(learner: int, session: int, start: datetime, company: str | None = None,
             programme: str = "P") -> Attendee:
    return Attendee(learner, session, programme, company, start, start + timedelta(days=2))


def test_complaints_per_100_learners() -> None:
    rows = EvidenceRows(
        tickets=(ticket(MID_MARCH, None, "reclamation"), ticket(MID_MARCH, None, "question"),
                 ticket(MID_MARCH, None, "difficulte"), ticket(datetime(2026, 4, 3, tzinfo=UTC), None, "reclamation")),
        attendees=tuple(attendee(i, 1, datetime(2026, 3, 2, tzinfo=UTC)) for i in range(8)))
    result = complaint_rate(rows, MARCH, now=NOW)
    assert (result.value, result.n, result.count("reclamations")) == (12.5, 8, 1)
    assert complaint_rate(rows, APRIL, now=NOW).value is None  # no learner ended in April


def enrolment(status: str, *, stopped: int | None = None, opted: int | None = None,
              completion: str | None = None, learner: int = 1) -> EnrolmentRow:
    end = datetime(2026, 3, 5, 17, tzinfo=UTC)
    return EnrolmentRow(learner, 1, "P", end, status, end + timedelta(days=90),
                        end + timedelta(days=stopped) if stopped is not None else None,
                        end + timedelta(days=opted) if opted is not None else None, completion)


@pytest.mark.parametrize(("rows", "value"), [
    ([enrolment("completed"), enrolment("active"), enrolment("stopped", stopped=10),
      enrolment("completed", opted=30)], 0.5),
    ([enrolment("completed", opted=120)], 0.0),   # STOP after the campaign's end is not a drop-out
    ([], None),
])
def test_dropout(rows: list[EnrolmentRow], value: float | None) -> None:
    assert dropout_rate(EvidenceRows(enrolments=tuple(rows)), MARCH, now=NOW).value == value


def test_training_completion_counts_only_reported_attendees() -> None:
    rows = EvidenceRows(enrolments=(enrolment("active", completion="completed", learner=1),
                                    enrolment("active", completion="completed", learner=2),
                                    enrolment("active", completion="abandoned", learner=3),
                                    enrolment("active", learner=4)))
    done = training_completion(rows, MARCH, now=NOW)
    assert (done.value, done.n, done.population) == (2 / 3, 3, 4)
    assert training_completion(rows, MARCH, now=NOW, outcome="abandoned").value == 1 / 3


def test_cold_application_and_results() -> None:
    rows = EvidenceRows(answers=(cold(1, "application", True), cold(2, "application", False),
                                 cold(3, "application", True), cold(4, "application", True),
                                 cold(1, "results", "J'ai réduit mes délais", "text"),
                                 cold(2, "results", "  ", "text")))
    applied = application_rate(rows, MARCH, now=NOW)
    assert (applied.value, applied.n, applied.count("non")) == (0.75, 4, 1)
    results = declared_results(rows, MARCH, now=NOW)
    assert (results.value, results.n, results.count("resultats")) == (0.25, 4, 1)


def test_reenrolment_learners_and_companies_within_12_months() -> None:
    march = datetime(2026, 3, 2, tzinfo=UTC)
    rows = EvidenceRows(attendees=(
        attendee(1, 1, march, "Acme"), attendee(1, 2, march + timedelta(days=200), "Acme"),   # back
        attendee(2, 1, march, "Acme"),
        attendee(3, 1, march, "Beta"), attendee(3, 3, march + timedelta(days=400), "Beta"),  # too late
        attendee(4, 1, march, None),
        attendee(5, 4, march - timedelta(days=30), "Gamma"), attendee(5, 1, march, "Gamma"),  # came before
    ))
    learners = reenrolment_rate(rows, MARCH, now=NOW)
    assert (learners.value, learners.n) == (1 / 5, 5)  # five ended a session in March; only 1 came back
    companies = reenrolment_rate(rows, MARCH, now=NOW, by="company")
    assert (companies.value, companies.n) == (1 / 3, 3)  # Acme back; Beta too late; Gamma not after


def test_quiz_success_and_retention() -> None:
    rows = EvidenceRows(
        quiz_answers=(QuizAnswer(1, 1, "P", MID_MARCH, True), QuizAnswer(1, 1, "P", MID_MARCH, False),
                      QuizAnswer(2, 1, "P", MID_MARCH, True), QuizAnswer(2, 1, "P", NOW, True)),
        retention=(ReviewRetention(1, "P", MID_MARCH, 0.9), ReviewRetention(2, "P", MID_MARCH, 0.7),
                   ReviewRetention(3, "P", NOW, 0.1)))
    success = quiz_success(rows, MARCH, now=NOW)
    assert (success.value, success.n, success.population) == (2 / 3, 2, 3)
    retention = estimated_retention(rows, MARCH, now=NOW)
    assert retention.value == pytest.approx(0.8) and retention.n == 2


@pytest.mark.parametrize(("local_time", "month"), [
    # 23:30 in Paris on 31 March (summer time, UTC+2) is 21:30 UTC: March.
    (datetime(2026, 3, 31, 21, 30, tzinfo=UTC), "march"),
    # 00:30 in Paris on 1 April is 22:30 UTC on 31 March: April.
    (datetime(2026, 3, 31, 22, 30, tzinfo=UTC), "april"),
    # 00:30 Paris on 1 March (winter time, UTC+1) is 23:30 UTC on 28 February: March.
    (datetime(2026, 2, 28, 23, 30, tzinfo=UTC), "march"),
])
def test_period_edges_in_paris(local_time: datetime, month: str) -> None:
    rows = EvidenceRows(answers=(rating(1, "accueil", 5, at=local_time),))
    in_march = satisfaction_rate(rows, MARCH, now=NOW).n
    in_april = satisfaction_rate(rows, APRIL, now=NOW).n
    assert (in_march, in_april) == ((1, 0) if month == "march" else (0, 1))


def test_an_empty_period_gives_no_value_and_nothing_to_publish() -> None:
    empty = Period(date(2025, 1, 1), date(2025, 1, 31))
    figures = all_indicators(RATINGS, empty, now=NOW)
    assert figures and all(f.value is None and f.n == 0 for f in figures)
    assert publishable(figures) == []


@pytest.mark.parametrize(("respondents", "threshold", "shown"), [(4, 5, False), (5, 5, True), (2, 2, True),
                                                                  (0, 0, False)])
def test_small_n_rule(respondents: int, threshold: int, shown: bool) -> None:
    rows = EvidenceRows(answers=tuple(rating(i, "accueil", 5) for i in range(respondents)))
    figure = satisfaction_rate(rows, MARCH, now=NOW)
    assert figure.publishable(threshold) is shown
    assert bool(publishable([figure], threshold=threshold)) is shown


def test_publishable_keeps_only_the_chosen_keys() -> None:
    rows = EvidenceRows(answers=tuple(rating(i, "accueil", 5) for i in range(6)) + tuple(score(i, 9) for i in range(6)))
    figures = all_indicators(rows, MARCH, now=NOW)
    assert [f.key for f in publishable(figures, chosen=["nps.hot"])] == ["nps.hot"]


def test_per_programme_figures_are_tagged_and_separate() -> None:
    rows = EvidenceRows(answers=(rating(1, "accueil", 5, programme="A"), rating(2, "accueil", 1, programme="B")),
                        attendees=(attendee(1, 1, MID_MARCH, programme="A"), attendee(2, 2, MID_MARCH, programme="B")))
    a = by_key(all_indicators(rows, MARCH, now=NOW, programme="A"))
    assert a["satisfaction.global"].value == 1.0 and a["satisfaction.global"].programme == "A"
    assert a["reclamations.taux"].n == 1
    assert by_key(all_indicators(rows, MARCH, now=NOW, programme="B"))["satisfaction.global"].value == 0.0


@pytest.mark.parametrize(("value", "unit", "text"), [(0.875, "%", "88 %"), (42.0, "nps", "+42"),
                                                     (-10.0, "nps", "-10"), (4.25, "/5", "4,2/5"),
                                                     (12.5, "/100", "12,5 pour 100"), (None, "%", "—")])
def test_french_formatting(value: float | None, unit: str, text: str) -> None:
    assert format_value(value, unit) == text


def test_monthly_periods_cover_the_period() -> None:
    months = monthly_periods(Period(date(2026, 1, 15), date(2026, 3, 10)))
    assert [(m.start, m.end) for m in months] == [(date(2026, 1, 15), date(2026, 1, 31)),
                                                  (date(2026, 2, 1), date(2026, 2, 28)),
                                                  (date(2026, 3, 1), date(2026, 3, 10))]
    assert MARCH.previous() == Period(date(2026, 1, 29), date(2026, 2, 28))  # 31 days before


def test_indicator_is_frozen() -> None:
    figure = Indicator("k", "l", 1.0, 1, 1, MARCH, NOW)
    with pytest.raises(AttributeError):
        figure.value = 2.0  # type: ignore[misc]


def test_narrowing_to_the_period_first_changes_no_figure() -> None:
    from engine.core.indicators import CATALOGUE

    april = datetime(2026, 4, 2, 10, tzinfo=UTC)
    rows = EvidenceRows(
        answers=(*RATINGS.answers, cold(1, "application", True), score(2, 3, at=april)),
        solicitations=(solicitation(HOT, MID_MARCH, reminders=1, answered=timedelta(days=2)),
                       solicitation(COLD, april)),
        tickets=(ticket(MID_MARCH, MID_MARCH + timedelta(hours=50), "reclamation"), ticket(april, None)),
        enrolments=(enrolment("stopped", stopped=3, completion="completed"), enrolment("active")),
        attendees=(attendee(1, 1, datetime(2026, 3, 2, tzinfo=UTC), "Acme"),
                   attendee(1, 2, datetime(2026, 5, 2, tzinfo=UTC), "Acme")),
        quiz_answers=(QuizAnswer(1, 1, "P", MID_MARCH, True), QuizAnswer(1, 1, "P", april, False)),
        retention=(ReviewRetention(1, "P", MID_MARCH, 0.6),))
    for period in (MARCH, APRIL):
        assert all_indicators(rows, period, now=NOW) == [fn(rows, period, NOW) for fn in CATALOGUE]


def test_a_scopes_complaints_are_per_100_of_its_own_learners() -> None:
    """A session's (or a programme's) complaint rate divides by its learners, not the organisation's."""
    march = datetime(2026, 3, 2, tzinfo=UTC)
    rows = EvidenceRows(
        tickets=(TicketRow(1, 1, 1, "P", MID_MARCH, None, "reclamation"),),
        attendees=tuple(attendee(i, 1, march) for i in range(4))
        + tuple(attendee(10 + i, 2, march, programme="Q") for i in range(4)))
    assert (complaint_rate(rows, MARCH, now=NOW).value, complaint_rate(rows, MARCH, now=NOW).n) == (12.5, 8)
    session = complaint_rate(rows.for_session(1), MARCH, now=NOW)
    assert (session.value, session.n, session.count("reclamations")) == (25.0, 4, 1)
    assert by_key(all_indicators(rows, MARCH, now=NOW, programme="P"))["reclamations.taux"].value == 25.0
    assert by_key(all_indicators(rows, MARCH, now=NOW, programme="Q"))["reclamations.taux"].value == 0.0


def test_a_programmes_reenrolment_counts_its_learners_and_looks_ahead_everywhere() -> None:
    march = datetime(2026, 3, 2, tzinfo=UTC)
    rows = EvidenceRows(attendees=(
        attendee(1, 1, march, programme="P"), attendee(1, 3, march + timedelta(days=60), programme="Q"),  # back in Q
        attendee(2, 1, march, programme="P"),
        attendee(3, 2, march, programme="Q"), attendee(3, 4, march + timedelta(days=90), programme="Q"),
    ))
    p = by_key(all_indicators(rows, MARCH, now=NOW, programme="P"))["reinscription.learner"]
    assert (p.value, p.n) == (0.5, 2)  # learners 1 and 2 ended P in March; 1 came back (to Q)
    session = reenrolment_rate(rows.for_session(2), MARCH, now=NOW)
    assert (session.value, session.n) == (1.0, 1)


# 23:30 in Paris on 31 March (21:30 UTC) belongs to March; 00:30 on 1 April (22:30 UTC on 31 March) to April.
LATE_MARCH, EARLY_APRIL = datetime(2026, 3, 31, 21, 30, tzinfo=UTC), datetime(2026, 3, 31, 22, 30, tzinfo=UTC)


@pytest.mark.parametrize(("key", "make", "counted"), [
    ("reponse.hot", lambda at: EvidenceRows(solicitations=(solicitation(HOT, at, answered=timedelta(0)),)),
     lambda i: i.population),
    ("reponse.toutes", lambda at: EvidenceRows(prompts=(PromptRow(1, 1, "P", at, True),)), lambda i: i.population),
    ("demandes.delai", lambda at: EvidenceRows(tickets=(ticket(at, at + timedelta(hours=1)),)), lambda i: i.n),
    ("reclamations.taux", lambda at: EvidenceRows(tickets=(ticket(at, None, "reclamation"),),
                                                  attendees=(attendee(1, 1, datetime(2026, 3, 2, tzinfo=UTC)),
                                                             attendee(2, 2, datetime(2026, 3, 30, tzinfo=UTC)))),
     lambda i: i.count("reclamations")),
    ("quiz.reussite", lambda at: EvidenceRows(quiz_answers=(QuizAnswer(1, 1, "P", at, True),)),
     lambda i: i.population),
    ("nps.hot", lambda at: EvidenceRows(answers=(score(1, 10, at=at),)), lambda i: i.n),
    ("suivi.abandon", lambda at: EvidenceRows(enrolments=(EnrolmentRow(1, 1, "P", at, "active", None),)),
     lambda i: i.n),
])
@pytest.mark.parametrize(("moment", "month"), [(LATE_MARCH, MARCH), (EARLY_APRIL, APRIL)])
def test_every_row_kind_falls_in_its_paris_month(key: str, make: Any, counted: Any, moment: datetime,
                                                 month: Period) -> None:
    rows = make(moment)
    for period in (MARCH, APRIL):
        figure = by_key(all_indicators(rows, period, now=NOW))[key]
        assert counted(figure) == (1 if period == month else 0), (key, period)


def test_splitting_into_months_equals_narrowing_to_each() -> None:
    rows = EvidenceRows(
        answers=(rating(1, "accueil", 5, at=LATE_MARCH), rating(2, "accueil", 3, at=EARLY_APRIL),
                 rating(3, "accueil", 4, at=datetime(2026, 2, 28, 22, 59, tzinfo=UTC))),  # 23:59 Paris: February
        solicitations=(solicitation(HOT, LATE_MARCH), solicitation(HOT, EARLY_APRIL)),
        tickets=(ticket(EARLY_APRIL, None),), prompts=(PromptRow(1, 1, "P", LATE_MARCH, False),))
    months = monthly_periods(Period(date(2026, 3, 1), date(2026, 4, 30)))
    assert rows.split(months) == [rows.within(m) for m in months]
    assert [len(part.answers) for part in rows.split(months)] == [1, 1]
