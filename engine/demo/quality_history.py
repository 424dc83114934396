"""A year of follow-up history written straight into the store, for the evidence pack's
tests, its benchmark and the demo: sessions, learners with employers, hot and cold
surveys with reminders, quiz answers, review cards, tickets and complaints.

Deterministic rules (learner ``k`` of session ``s``), so tests can count by hand:

- every learner gets the hot survey 2 h after the session ends; learners with
  ``k % 4 == 3`` never answer it and get one reminder a day later; ``k % 4 == 2``
  also get a reminder and answer after it;
- ratings of the five criteria: 5 when ``k`` is even, 4 when ``k % 3 == 1``, else 2;
  NPS: 10 when ``k`` is even, 8 when ``k % 3 == 1``, else 3;
- the cold survey (90 days later) goes to everyone, answered by ``k % 2 == 0``, who
  say they applied it when ``k % 4 == 0`` (and describe a result then);
- each session's learner 0 asks a question answered after 5 h; learner 1 of every
  other session complains (``s % 2 == 0``) and is answered after 60 h;
- learner ``k % 5 == 4`` opts out of SMS 10 days after the session (a drop-out);
- learners at index 0 of session ``s`` also attend session ``s + 1`` (re-enrolment).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.core.spaced import new_state, record_answer
from engine.store.models import (
    Attendance,
    CampaignVersion,
    Delivery,
    Enrollment,
    Learner,
    Prompt,
    Reply,
    ReviewCard,
    Ticket,
    Trainer,
    TrainingSession,
)

HOT_REF, COLD_REF = "satisfaction-chaud", "satisfaction-froid"
CRITERIA_IDS = (("accueil", "accueil"), ("contenu", "contenu"), ("equipe-pedagogique", "equipe_pedagogique"),
                ("moyens", "moyens"), ("accompagnement", "accompagnement"))
PROGRAMMES = ("Management d'équipe", "Prise de parole en public", "Gestion du temps")


def _definition() -> dict[str, Any]:
    hot = [{"id": qid, "type": "rating", "text": qid, "criterion": crit, "choices": [], "optional": False}
           for qid, crit in CRITERIA_IDS]
    hot.append({"id": "nps", "type": "nps", "text": "NPS", "criterion": None, "choices": [], "optional": False})
    hot.append({"id": "commentaire", "type": "text", "text": "?", "criterion": None, "choices": [], "optional": True})
    cold: list[dict[str, Any]] = [{"id": "applique", "type": "yes_no", "text": "Avez-vous pu appliquer ?", "criterion": None,
             "choices": [], "optional": False},
            {"id": "resultats", "type": "text", "text": "Résultats ?", "criterion": None, "choices": [],
             "optional": True}]
    return {"campaign": {"campaign": "suivi-standard"},
            "content": {"surveys": {HOT_REF: {"ref": HOT_REF, "title": "Avis à chaud", "questions": hot},
                                    COLD_REF: {"ref": COLD_REF, "title": "Avis à 3 mois", "questions": cold}}}}


def rating_of(k: int) -> int:
    return 5 if k % 2 == 0 else 4 if k % 3 == 1 else 2


def nps_of(k: int) -> int:
    return 10 if k % 2 == 0 else 8 if k % 3 == 1 else 3


@dataclass(frozen=True)
class SeededHistory:
    sessions: int
    learners: int
    trainer_ids: tuple[int, ...]
    first_end: datetime


class _Ids:
    def __init__(self) -> None:
        self.counters: dict[str, int] = {}

    def next(self, table: str) -> int:
        self.counters[table] = self.counters.get(table, 0) + 1
        return self.counters[table]


async def seed_history(engine: AsyncEngine, *, sessions: int, learners_per_session: int, first_end: datetime,
                       every: timedelta = timedelta(days=1), trainers: int = 2, created_at: datetime | None = None,
                       review_items: int = 2, chunk: int = 5000) -> SeededHistory:
    """Writes the history into an empty, migrated database; returns what was made."""
    now = created_at or first_end
    ids = _Ids()
    rows: dict[Any, list[dict[str, Any]]] = {t: [] for t in (
        Trainer, TrainingSession, Learner, Attendance, CampaignVersion, Enrollment, Delivery, Prompt, Reply,
        ReviewCard, Ticket)}
    trainer_ids = tuple(range(1, trainers + 1))
    for t in trainer_ids:
        rows[Trainer].append({"id": t, "name": f"Formateur {t}", "email": f"formateur{t}@exemple.fr",
                              "password_hash": "", "role": "trainer", "locale": "fr", "timezone": "Europe/Paris",
                              "failed_logins": 0, "digest_opt_out": False, "created_at": now})
    rows[CampaignVersion].append({"id": 1, "name": "suivi-standard", "content_hash": hashlib.sha256(b"qh").hexdigest(),
                                  "definition": _definition(), "created_at": now})
    previous_first: int | None = None
    for s in range(sessions):
        sid = s + 1
        end = first_end + every * s
        rows[TrainingSession].append({
            "id": sid, "title": PROGRAMMES[s % len(PROGRAMMES)], "trainer_id": trainer_ids[s % trainers],
            "starts_at": end - timedelta(hours=8), "ends_at": end, "timezone": "Europe/Paris",
            "campaign_names": ["suivi-standard"], "ended_processed_at": end, "created_at": now, "external_id": None,
            "location": None})
        for k in range(learners_per_session):
            if k == 0 and previous_first is not None:
                lid = previous_first
            else:
                lid = ids.next("learner")
                opted = end + timedelta(days=10) if k % 5 == 4 else None
                rows[Learner].append({
                    "id": lid, "first_name": f"Stagiaire{lid}", "last_name": "Test", "phone": None,
                    "email": f"s{lid}@exemple.fr", "locale": "fr", "timezone": "Europe/Paris",
                    "company": f"Entreprise {lid % 7}", "consent_sms": True, "consent_whatsapp": True,
                    "consent_push": True, "consent_email": True, "at_risk": False, "opted_out_sms_at": opted,
                    "created_at": now, "external_id": None, "manager_name": None, "manager_email": None,
                    "manager_phone": None})
            if k == 0:
                previous_first = lid
            completion = None if k % 6 == 5 else ("abandoned" if k % 6 == 4 else "completed")
            rows[Attendance].append({"id": ids.next("attendance"), "session_id": sid, "learner_id": lid,
                                     "training_completion": completion, "created_at": now})
            _learner_history(rows, ids, sid, s, k, lid, end, review_items)
    async with engine.begin() as connection:
        for table, values in rows.items():
            for start in range(0, len(values), chunk):
                await connection.execute(insert(table), values[start:start + chunk])
        if engine.dialect.name == "postgresql":
            for table in rows:
                name = table.__tablename__
                await connection.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), COALESCE(MAX(id), 1)) FROM {name}")
    learners = len(rows[Learner])
    return SeededHistory(sessions, learners, trainer_ids, first_end)


def _delivery(rows: dict[Any, list[dict[str, Any]]], ids: _Ids, eid: int, lid: int, step: str, at: datetime,
              origin: str, occurrence: int = 0, kind: str = "survey") -> int:
    did = ids.next("delivery")
    rows[Delivery].append({
        "id": did, "enrollment_id": eid, "learner_id": lid, "step_id": step, "occurrence": occurrence, "kind": kind,
        "recipient": "learner", "content_ref": None, "channels": ["email"], "due_at": at, "origin": origin,
        "status": "delivered", "channel": "email", "attempts": 1, "sent_at": at, "finished_at": at,
        "created_at": at, "updated_at": at, "status_reason": None, "provider_id": None, "error_code": None,
        "error": None, "claimed_by": None, "claimed_at": None, "rendered": None})
    return did


def _survey(rows: dict[Any, list[dict[str, Any]]], ids: _Ids, eid: int, lid: int, step: str, ref: str,
            first_qid: str, sent: datetime, answer_at: datetime | None, reminder_at: datetime | None,
            answers: list[tuple[str, object]]) -> None:
    did = _delivery(rows, ids, eid, lid, step, sent, "plan")
    pid = ids.next("prompt")
    rows[Prompt].append({
        "id": pid, "delivery_id": did, "learner_id": lid, "enrollment_id": eid, "step_id": step, "channel": "email",
        "kind": "survey", "question_ref": f"{ref}#{first_qid}", "expectation": {}, "opened_at": sent,
        "expires_at": sent + timedelta(days=3), "check_at": None,
        "status": "answered" if answer_at else "expired", "clarification_sent": False,
        "reminders_sent": 1 if reminder_at else 0, "answered_at": answer_at, "created_at": sent})
    if reminder_at is not None:
        _delivery(rows, ids, eid, lid, step, reminder_at, "reminder", occurrence=pid * 10 + 1, kind="text")
    if answer_at is None:
        return
    for offset, (qid, value) in enumerate(answers):
        rows[Reply].append({"id": ids.next("reply"), "inbound_event_id": None, "prompt_id": pid, "learner_id": lid,
                            "enrollment_id": eid, "kind": "survey", "raw_text": str(value),
                            "value": {"question": f"{ref}#{qid}", "value": value, "status": "answered"},
                            "correct": None, "created_at": answer_at + timedelta(minutes=offset)})


def _learner_history(rows: dict[Any, list[dict[str, Any]]], ids: _Ids, sid: int, s: int, k: int, lid: int,
                     end: datetime, review_items: int) -> None:
    eid = ids.next("enrollment")
    status = "completed" if k % 5 != 4 else "stopped"
    rows[Enrollment].append({"id": eid, "learner_id": lid, "session_id": sid, "campaign_name": "suivi-standard",
                             "anchor_at": end, "campaign_version_id": 1, "status": status, "paused_at": None,
                             "stopped_reason": "opted out" if status == "stopped" else None, "created_at": end,
                             "updated_at": end + timedelta(days=10 if status == "stopped" else 91)})
    hot_sent = end + timedelta(hours=2)
    reminder = hot_sent + timedelta(days=1) if k % 4 in (2, 3) else None
    answered = None if k % 4 == 3 else (reminder + timedelta(hours=3) if reminder else hot_sent + timedelta(minutes=20))
    hot: list[tuple[str, object]] = [(qid, rating_of(k)) for qid, _ in CRITERIA_IDS]
    hot.append(("nps", nps_of(k)))
    if k % 3 == 0:
        hot.append(("commentaire", "Formation très concrète, merci" if k % 2 == 0 else "Trop de théorie"))
    _survey(rows, ids, eid, lid, "satisfaction-chaud", HOT_REF, "accueil", hot_sent, answered, reminder, hot)
    cold_sent = end + timedelta(days=90)
    cold_answer = cold_sent + timedelta(hours=4) if k % 2 == 0 else None
    cold: list[tuple[str, object]] = [("applique", k % 4 == 0)]
    if k % 4 == 0:
        cold.append(("resultats", "Réunions plus courtes"))
    _survey(rows, ids, eid, lid, "satisfaction-froid", COLD_REF, "applique", cold_sent, cold_answer, None, cold)
    quiz_at = end + timedelta(days=7)
    _delivery(rows, ids, eid, lid, "quiz-j7", quiz_at, "plan", kind="quiz")
    for item in range(review_items):
        correct = (k + item) % 3 != 0
        rows[Reply].append({"id": ids.next("reply"), "inbound_event_id": None, "prompt_id": None, "learner_id": lid,
                            "enrollment_id": eid, "kind": "quiz", "raw_text": "B",
                            "value": {"question": f"quiz#{item}", "value": "B", "status": "answered"},
                            "correct": correct, "created_at": quiz_at + timedelta(minutes=item)})
        state = record_answer(new_state(f"q{item}", now=quiz_at), correct=correct, at=quiz_at, horizon_days=60)
        rows[ReviewCard].append({"id": ids.next("card"), "learner_id": lid, "bank_ref": f"quiz-{sid}",
                                 "item_id": f"q{item}", "state": state.to_dict(), "due_at": state.due,
                                 "retired": False, "created_at": quiz_at, "updated_at": quiz_at})
    if k in (0, 1) and (k == 0 or s % 2 == 0):
        received = end + timedelta(days=3)
        delay = timedelta(hours=5) if k == 0 else timedelta(hours=60)
        rows[Ticket].append({
            "id": ids.next("ticket"), "learner_id": lid, "session_id": sid, "inbound_event_id": None,
            "body": "Où trouver le support ?" if k == 0 else "Je suis mécontent, c'est inadmissible",
            "status": "closed", "faq_entry_id": None, "auto_answered": False, "created_at": received,
            "due_by": received + timedelta(hours=48), "first_response_at": received + delay,
            "closed_at": received + delay, "acknowledged_at": received, "resolved_at": received + delay,
            "resolution": "Réponse envoyée", "corrective_action_id": None})
