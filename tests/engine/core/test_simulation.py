"""The simulator: suivi-standard played against each persona, in the pure core, with a fake clock.

Assertions are about behaviour a designer relies on (who gets alerted, who is
marked at risk, what is skipped), plus invariants that hold for every persona:
determinism, the weekly review cap, and nothing sent outside the window except
the immediate answer to a learner's own reply.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from engine.campaign.loader import load_campaign
from engine.campaign.schema import Campaign
from engine.content.library import ContentLibrary
from engine.content.render import render, sample_context
from engine.core.personas import PERSONAS, PersonaReplies, ScriptedReplies, find_persona
from engine.core.simulation import Simulation, TranscriptEntry
from engine.core.timeline import plan_timeline
from engine.core.windows import is_open
from engine.settings import PROJECT_ROOT

LIBRARY, _ = ContentLibrary.load(PROJECT_ROOT / "content")
PARIS = ZoneInfo("Europe/Paris")
SESSION_END = datetime(2026, 3, 27, 18, 0, tzinfo=PARIS)
CONTEXT = sample_context("fr")


def _campaign(name: str) -> Campaign:
    campaign = load_campaign(PROJECT_ROOT / "campaigns" / f"{name}.yaml").campaign
    assert campaign is not None
    return campaign


STANDARD = _campaign("suivi-standard")


def simulate(persona: str, *, seed: int = 1, script: ScriptedReplies | None = None,
             campaign: Campaign = STANDARD) -> list[TranscriptEntry]:
    found = find_persona(persona)
    assert found is not None
    return Simulation(campaign, LIBRARY, anchor=SESSION_END, tz=PARIS, replies=PersonaReplies(found, seed),
                      script=script, render=lambda text: render(text, CONTEXT)).run()


def events(transcript: list[TranscriptEntry], event: str, step: str | None = None) -> list[TranscriptEntry]:
    return [e for e in transcript if e.event == event and (step is None or e.step_id == step)]


def details(transcript: list[TranscriptEntry], step: str) -> list[str]:
    return [f"{e.event}: {e.detail}" for e in transcript if e.step_id == step]


def test_silent_learner_gets_reminders_then_the_silence_branch() -> None:
    run = simulate("silencieux")
    assert events(run, "reply") == []
    quiz = details(run, "quiz-j7")
    assert quiz == [
        "sent: question (push)",
        "reminder: reminder 1 (push)",
        "branch: no reply after reminders: silence branch",
        "alert: alert to trainer: Quiz J+7 sans réponse malgré une relance",
        "branch: learner marked at risk",
    ]
    reminder = events(run, "reminder", "quiz-j7")[0]
    # Sunday 5 April + Easter Monday are closed: the reminder waits for Tuesday's opening.
    assert reminder.at == datetime(2026, 4, 7, 9, 0, tzinfo=PARIS)
    # The silence branch runs two ``after`` from the question on the wall clock, as production
    # does (tests/engine/services/test_simulation_equivalence.py): Tuesday 18:00.
    assert events(run, "alert", "quiz-j7")[0].at == datetime(2026, 4, 7, 18, 0, tzinfo=PARIS)
    # The hot survey has no silence action: one reminder, then it lapses.
    assert details(run, "satisfaction-chaud") == [
        "sent: question (push)", "reminder: reminder 1 (push)", "expired: no reply after reminders",
    ]


def test_silent_learner_is_called_after_the_silence_branch_marks_them() -> None:
    """The quiz's silence branch marks the learner at risk on Thu 9 April; the call task
    (+14d, Fri 10 April) comes after it, so silent learners get the call too."""
    run = simulate("silencieux")
    task = events(run, "sent", "appel-formateur")
    assert len(task) == 1 and task[0].at == datetime(2026, 4, 10, 18, 0, tzinfo=PARIS)


def test_struggling_learner_gets_the_recap_and_the_trainer_call() -> None:
    run = simulate("en-difficulte")
    score = events(run, "score", "quiz-j7")[0]
    assert score.detail.startswith("score 33%")
    quiz = details(run, "quiz-j7")
    assert "branch: branch: lesson management/feedback-sbi-recap planned" in quiz
    assert "branch: learner marked at risk" in quiz
    recap = next(e for e in events(run, "sent", "quiz-j7") if "feedback-sbi-recap" in e.detail)
    # +1d after the Saturday 03:09 score is Sunday; Easter Monday is closed too.
    assert recap.at == datetime(2026, 4, 7, 9, 0, tzinfo=PARIS)
    task = events(run, "sent", "appel-formateur")
    assert len(task) == 1
    assert task[0].text is not None and task[0].text.startswith("Appeler Camille Martin :")
    assert "{{" not in task[0].detail
    alerts = [e.detail for e in events(run, "alert")]
    assert [a for a in alerts if a.startswith("alert to trainer")] == [
        "alert to trainer: Note inférieure à 3 au questionnaire à chaud",
        "alert to trainer: Plan d'action bloqué",
        "alert to trainer: NPS à froid inférieur à 7",
        "alert to trainer: Souhaite aller plus loin (formation ou accompagnement)",
    ]
    # The engine's own alerts, as production raises them: low rating, detractor, three wrong.
    automatic = {a.split(")")[0] for a in alerts if a.startswith("alert (")}
    assert automatic == {"alert (low_rating", "alert (detractor", "alert (quiz_failure"}


def test_good_learner_raises_no_alarm_and_skips_the_at_risk_task() -> None:
    run = simulate("assidu")
    # The only alert is good news: the learner wants to go further at six months.
    assert [e.detail for e in events(run, "alert")] == [
        "alert to trainer: Souhaite aller plus loin (formation ou accompagnement)"
    ]
    assert details(run, "appel-formateur") == ["skipped: audience at_risk: learner is not at risk"]
    assert events(run, "score", "quiz-j7")[0].detail == "score 100% (3 answers)"
    assert events(run, "reminder") == []
    assert all(e.detail == "correct" for e in events(run, "feedback", "quiz-j7"))


def test_late_learner_answers_after_reminders() -> None:
    run = simulate("tardif")
    late = [
        reply for reply in events(run, "reply")
        if any(r.step_id == reply.step_id and r.at < reply.at for r in events(run, "reminder"))
    ]
    assert late, "the late persona should answer some questions only after a reminder"
    assert events(run, "reminder", "quiz-j7")
    delays = [r.at - s.at for s, r in zip(events(run, "sent", "satisfaction-chaud"),
                                           events(run, "reply", "satisfaction-chaud"), strict=False)]
    assert all(delay > timedelta(days=1) for delay in delays[:1])


@pytest.mark.parametrize("persona", sorted(PERSONAS))
def test_same_seed_same_transcript(persona: str) -> None:
    first = [e.as_dict() for e in simulate(persona, seed=7)]
    assert first == [e.as_dict() for e in simulate(persona, seed=7)]


def test_different_seeds_differ_for_a_random_persona() -> None:
    assert [e.as_dict() for e in simulate("tardif", seed=1)] != [e.as_dict() for e in simulate("tardif", seed=2)]


@pytest.mark.parametrize("persona", sorted(PERSONAS))
@pytest.mark.parametrize("campaign", ["suivi-standard", "drip-management", "suivi-securite"])
def test_review_sends_never_exceed_the_plan(persona: str, campaign: str) -> None:
    """Reviews go out at most as often as the timeline plans them (``per_week`` open days a
    week); one may wait while the learner answers another question, never earlier."""
    model = _campaign(campaign)
    run = simulate(persona, campaign=model)
    checked = 0
    for step in model.steps:
        if step.review is None:
            continue
        planned = [p.due_at for p in plan_timeline(model, anchor=SESSION_END, tz=PARIS) if p.step_id == step.id]
        sent = [e.at for e in events(run, "sent", step.id)]
        assert len(sent) <= len(planned)
        assert all(at >= due for at, due in zip(sorted(sent), sorted(planned), strict=False))
        checked += 1
    assert checked >= 1


@pytest.mark.parametrize("persona", sorted(PERSONAS))
@pytest.mark.parametrize("campaign", ["suivi-standard", "drip-excel", "implication-manager", "suivi-securite"])
def test_nothing_sent_outside_the_window_except_answers_to_replies(persona: str, campaign: str) -> None:
    model = _campaign(campaign)
    run = simulate(persona, campaign=model)
    replies = {(e.step_id, e.at) for e in events(run, "reply")}
    checked = 0
    for entry in run:
        if entry.event not in ("sent", "reminder"):
            continue
        step = model.step(entry.step_id)
        assert step is not None
        if (entry.step_id, entry.at) in replies:
            continue  # the next question, sent at once in answer to the learner's reply
        assert is_open(entry.at, model.window_for(step), PARIS), entry
        checked += 1
    assert checked > 0  # some sends were checked against the window


def test_scripted_replies_drive_the_branches() -> None:
    script = ScriptedReplies(
        replies={
            "quiz-j7": ["la a", "A", "zut", "B"],     # wrong, wrong, unreadable, then answers the clarification
            "plan-action-j21": ["", "C", "passer"],   # silent, then answers the reminder
        },
        delays={"quiz-j7": timedelta(minutes=5), "plan-action-j21": timedelta(hours=1)},
    )
    run = simulate("assidu", script=script)
    quiz = [e for e in run if e.step_id == "quiz-j7" and e.event in ("reply", "clarify", "score")]
    assert [(e.event, e.text) for e in quiz] == [
        ("reply", "la a"), ("reply", "A"), ("reply", "zut"),
        ("clarify", "Je n'ai pas bien compris. Répondez avec une seule lettre : A, B, C."),
        ("reply", "B"), ("score", None),
    ]
    assert events(run, "score", "quiz-j7")[0].detail in ("score 0% (3 answers)", "score 33% (3 answers)")
    assert "branch: learner marked at risk" in details(run, "quiz-j7")
    assert len(events(run, "sent", "appel-formateur")) == 1
    plan = details(run, "plan-action-j21")
    assert plan[:3] == ["sent: question (push)", "reminder: reminder 1 (push)", "reply: statut: ok 'bloque'"]
    assert events(run, "alert", "plan-action-j21")[0].detail == "alert to trainer: Plan d'action bloqué"


def test_transcript_is_sorted_and_serialisable() -> None:
    run = simulate("en-difficulte")
    assert [e.at for e in run] == sorted(e.at for e in run)
    first = run[0].as_dict()
    assert first == {"at": "2026-03-30T09:00:00+02:00", "event": "sent", "step": "satisfaction-chaud",
                     "detail": "question (push)", "text": first["text"]}
    assert Counter(e.event for e in run)["sent"] > 10
