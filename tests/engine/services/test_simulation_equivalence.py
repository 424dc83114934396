"""Simulate = production: the same scripted learner through ``ancrage simulate`` and through the
real engine (in-process, SQLite, a fake clock, in-memory channels) gives the same transcript.

Both sides play every shipped campaign. The production side is driven by an event clock:
it jumps to the next due delivery, question check or reply, ticks, and answers each
question (or reminder, or clarification) the moment it reaches the learner's phone, as
the scripted learner says. The transcripts compare what was asked when and on which
channel, what came back, which answers were right, which reminders, alerts and branch
sends happened and the review date of every item. A rule changed on one side only
shows up as a difference.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func
from sqlmodel import col, select

from engine.channels.base import MemoryChannel
from engine.content.library import ContentLibrary
from engine.core.personas import PERSONAS, PersonaReplies
from engine.core.simulation import Simulation
from engine.core.transcript import TranscriptEntry
from engine.services.catalog import Catalog, forget_versions, snapshot
from engine.services.inbound import process_inbound
from engine.settings import PROJECT_ROOT
from engine.store.inbound import store_inbound_event
from engine.store.models import (
    Alert,
    Delivery,
    Enrollment,
    InboundEvent,
    Learner,
    Prompt,
    PushToken,
    Reply,
    ReviewCard,
)
from tests.support.engine_harness import CONTENT, Engine, add_session, make_engine

PARIS = ZoneInfo("Europe/Paris")
SESSION_END = datetime(2026, 3, 27, 17, 0, tzinfo=PARIS)  # a Friday
CAMPAIGNS = sorted(PROJECT_ROOT.glob("campaigns/*.yaml"))
CHANNELS = ("push", "sms", "whatsapp", "email")
Fact = tuple[Any, ...]


@dataclass
class Learner_:
    """A scripted learner: each message is a pure function of the question and the attempt."""

    answer: Callable[[str, str, int], tuple[str, timedelta] | None]

    def reply(self, step_id: str, question_ref: str, attempt: int) -> tuple[str, timedelta] | None:
        return self.answer(step_id, question_ref, attempt)


def persona_learner(name: str) -> Learner_:
    """A persona's habits, drawn per question (not in sequence) so that both sides agree."""
    persona = PERSONAS[name]
    library, _ = ContentLibrary.load(CONTENT)

    def answer(step_id: str, ref: str, attempt: int) -> tuple[str, timedelta] | None:
        seed = int(hashlib.sha256(f"{name}:{ref}:{attempt}".encode()).hexdigest()[:8], 16)
        replies = PersonaReplies(persona, seed)
        if not replies.answers():
            return None
        bank_or_survey, _, item_id = ref.partition("#")
        bank = library.banks.get(bank_or_survey)
        if bank is not None and bank.item(item_id) is not None:
            text = replies.quiz_reply(bank.item(item_id))  # type: ignore[arg-type]
        else:
            survey = library.surveys.get(bank_or_survey) or library.checkins.get(bank_or_survey)
            question = survey.question(item_id) if survey else None
            text = replies.question_reply(question) if question else "oui"
        minutes = 5 + seed % 50
        return text, timedelta(minutes=minutes)

    return Learner_(answer)


def scripted_learner(texts: list[str | None]) -> Learner_:
    """Replies from a short list, cycled over the questions by a hash of the question."""

    def answer(step_id: str, ref: str, attempt: int) -> tuple[str, timedelta] | None:
        index = int(hashlib.sha256(f"{ref}:{attempt}".encode()).hexdigest()[:8], 16) % len(texts)
        text = texts[index]
        return None if text is None else (text, timedelta(minutes=7 + index))

    return Learner_(answer)


# --- the two transcripts ---------------------------------------------------------------


def _minute(moment: datetime) -> str:
    return moment.astimezone(PARIS).strftime("%Y-%m-%d %H:%M")


def simulated(campaign_path: Path, learner: Learner_, anchor: datetime) -> list[Fact]:
    catalog = Catalog.load(campaign_path.parent, CONTENT)
    campaign = catalog.campaigns[_name(campaign_path)]
    content = snapshot(campaign, catalog.library)
    run = Simulation(campaign, content, anchor=anchor, tz=PARIS, replies=PersonaReplies(PERSONAS["assidu"], 1),
                     learner=learner).run()
    return sorted(_facts_of_simulation(run))


def _facts_of_simulation(run: list[TranscriptEntry]) -> list[Fact]:
    facts: list[Fact] = []
    cards: dict[str, str] = {}
    for entry in run:
        at = _minute(entry.at)
        if entry.event == "sent" and entry.ref:
            facts.append(("ask", at, entry.step_id, entry.ref, entry.detail.split("(")[-1].rstrip(")")))
        elif entry.event == "sent":
            kind = entry.detail.split(" ", 1)[0]
            facts.append(("send", at, entry.step_id, kind))
        elif entry.event == "reminder":
            facts.append(("reminder", at, entry.step_id))
        elif entry.event == "reply":
            facts.append(("reply", at, entry.text))
        elif entry.event == "feedback":
            facts.append(("graded", at, entry.step_id, entry.detail == "correct"))
        elif entry.event == "alert":
            facts.append(("alert", at, entry.detail.split(": ", 1)[1]))
        elif entry.event == "review":
            item, _, detail = entry.detail.partition(": ")
            cards[item] = detail.removeprefix("next review due ")
    facts += [("card", item, due) for item, due in cards.items()]
    return facts


def _name(path: Path) -> str:
    return path.read_text(encoding="utf-8").split("campaign:", 1)[1].split()[0]


@dataclass
class Production:
    engine: Engine
    learner: Learner_
    learner_id: int = 0
    attempts: dict[str, int] = field(default_factory=dict)
    pending: list[tuple[datetime, str, str]] = field(default_factory=list)  # (at, channel, text)
    seen: set[int] = field(default_factory=set)

    def _ask(self, step_id: str, ref: str, channel: str, at: datetime) -> None:
        attempt = self.attempts[ref] = self.attempts.get(ref, -1) + 1
        scripted = self.learner.reply(step_id, ref, attempt)
        if scripted is not None:
            self.pending.append((at + scripted[1], channel, scripted[0]))

    async def observe(self) -> None:
        """Every message that reached the learner since last time: a question, a reminder or a
        clarification is one more chance for the learner to answer."""
        async with self.engine.rt.sessions() as session:
            sent = (await session.exec(select(Delivery).where(
                col(Delivery.status).in_(["sent", "delivered"]), col(Delivery.recipient) != "trainer"))).all()
            for delivery in sorted(sent, key=lambda d: (d.sent_at or d.due_at, d.id or 0)):
                if delivery.id in self.seen or delivery.id is None:
                    continue
                self.seen.add(delivery.id)
                at = delivery.sent_at or self.engine.clock.now
                prompt = (await session.exec(select(Prompt).where(Prompt.delivery_id == delivery.id))).first()
                pending = any(channel == delivery.channel for _, channel, _ in self.pending)
                if prompt is not None:
                    self._ask(prompt.step_id, prompt.question_ref, prompt.channel, at)
                elif delivery.origin in ("reminder", "feedback") and not pending:
                    open_prompt = (await session.exec(select(Prompt).where(
                        Prompt.status == "open", Prompt.channel == delivery.channel,
                        Prompt.step_id == delivery.step_id))).first()
                    if open_prompt is not None and (delivery.origin == "reminder"
                                                    or (delivery.rendered or {}).get("prompt") is None):
                        self._ask(open_prompt.step_id, open_prompt.question_ref, open_prompt.channel, at)

    async def next_moment(self) -> datetime | None:
        async with self.engine.rt.sessions() as session:
            due = (await session.exec(select(func.min(Delivery.due_at)).where(
                col(Delivery.status).in_(["planned", "queued"])))).first()
            check = (await session.exec(select(func.min(func.coalesce(Prompt.check_at, Prompt.expires_at))).where(
                Prompt.status == "open"))).first()
        moments = [m for m in (due, check, *(p[0] for p in self.pending)) if m is not None]
        return min((m if m.tzinfo else m.replace(tzinfo=UTC)) for m in moments) if moments else None

    async def reply_due(self) -> None:
        now = self.engine.clock.now
        due = sorted(p for p in self.pending if p[0] <= now)
        self.pending = [p for p in self.pending if p[0] > now]
        for at, channel, text in due:
            async with self.engine.rt.sessions() as session, session.begin():
                event, _ = await store_inbound_event(
                    session, provider="sandbox", provider_id=f"eq-{at.timestamp()}-{channel}-{len(self.seen)}",
                    channel=channel, sender=f"learner:{self.learner_id}", received_at=now, body=text)
            await process_inbound(self.engine.rt, event.id or 0)

    async def play(self, until: datetime) -> None:
        for _ in range(5000):
            moment = await self.next_moment()
            if moment is None or moment > until:
                return
            self.engine.clock.set(max(moment, self.engine.clock.now))
            await self.reply_due()
            # One tick per moment: what it creates for now (feedback, a branch) is due at once,
            # so the next moment is this one again and the loop ticks again at the same time.
            await self.engine.tick()
            await self.observe()
        raise AssertionError("the campaign never settled")


async def production(campaign_path: Path, learner: Learner_, tmp_path: Path, template: Path) -> tuple[list[Fact], datetime]:
    forget_versions()
    tmp_path.mkdir(parents=True, exist_ok=True)
    database = tmp_path / "equivalence.sqlite3"
    shutil.copyfile(template, database)
    folder = tmp_path / "campaigns"
    folder.mkdir(exist_ok=True)
    shutil.copy(campaign_path, folder / campaign_path.name)
    engine = await make_engine(f"sqlite+aiosqlite:///{database}", tmp_path, folder, start=SESSION_END - timedelta(hours=1),
                               channels={name: MemoryChannel(name) for name in CHANNELS})
    try:
        _, [row] = await add_session(engine, title="Manager coach — session de Lyon", ends_at=SESSION_END,
                                     campaigns=[_name(campaign_path)],
                                     learners=[{"first_name": "Camille", "last_name": "Martin",
                                                "phone": "+33612345678", "email": "camille@example.fr",
                                                "manager_name": "Claire Petit",
                                                "manager_email": "claire.petit@example.fr"}])
        async with engine.rt.sessions() as session, session.begin():
            session.add(PushToken(learner_id=row.id or 0, token="push-token-camille", platform="android"))
        run = Production(engine, learner, learner_id=row.id or 0)
        engine.clock.set(SESSION_END)
        await engine.tick()  # the session ended: the learner is enrolled and the campaign planned
        await engine.tick()
        await run.observe()
        await run.play(SESSION_END + timedelta(days=220))
        return await _facts_of_production(engine), await _anchor(engine)
    finally:
        from engine.services.bootstrap import close_runtime

        await close_runtime(engine.rt)


async def _anchor(engine: Engine) -> datetime:
    async with engine.rt.sessions() as session:
        enrollment = (await session.exec(select(Enrollment))).first()
    assert enrollment is not None
    return enrollment.anchor_at


async def _facts_of_production(engine: Engine) -> list[Fact]:
    facts: list[Fact] = []
    async with engine.rt.sessions() as session:
        prompts = {p.id: p for p in (await session.exec(select(Prompt))).all()}
        for prompt in prompts.values():
            facts.append(("ask", _minute(prompt.opened_at), prompt.step_id, prompt.question_ref, prompt.channel))
        for d in (await session.exec(select(Delivery))).all():
            if d.status not in ("sent", "delivered"):
                continue
            if d.origin == "reminder":
                facts.append(("reminder", _minute(d.sent_at or d.due_at), d.step_id))
            elif d.kind in ("lesson", "message", "task") and d.origin in ("plan", "branch"):
                facts.append(("send", _minute(d.sent_at or d.finished_at or d.due_at), d.step_id, d.kind))
        for event in (await session.exec(select(InboundEvent))).all():
            facts.append(("reply", _minute(event.received_at), event.body))
        for reply in (await session.exec(select(Reply))).all():
            if reply.correct is not None and reply.prompt_id in prompts:
                facts.append(("graded", _minute(reply.created_at), prompts[reply.prompt_id].step_id, reply.correct))
        for alert in (await session.exec(select(Alert))).all():
            if alert.kind != "task":
                facts.append(("alert", _minute(alert.created_at), alert.reason))
        for card in (await session.exec(select(ReviewCard))).all():
            due = "retired" if card.retired else card.due_at.astimezone(PARIS).strftime("%Y-%m-%d")
            facts.append(("card", card.item_id, due))
        assert (await session.exec(select(Learner))).first() is not None
    return sorted(facts)


def _diff(left: list[Fact], right: list[Fact]) -> tuple[list[Fact], list[Fact]]:
    only_left = [f for f in left if f not in right]
    only_right = [f for f in right if f not in left]
    return only_left, only_right


# Every shipped campaign, every persona; bounded: each campaign with one persona in turn, and
# the largest campaign with all four (the suite must stay fast).
PERSONA_NAMES = sorted(PERSONAS)
PAIRS = sorted({(path, PERSONA_NAMES[i % len(PERSONA_NAMES)]) for i, path in enumerate(CAMPAIGNS)}
               | {(PROJECT_ROOT / "campaigns" / "suivi-standard.yaml", name) for name in PERSONA_NAMES})
VOCABULARY = ["A", "B", "C", "D", "la b", "zut", "je ne sais pas", "4", "2", "9", "oui", "non", "passer",
              "C'est fait", "bloqué", "Arrêtez de m'envoyer des messages", "Comment avoir mon attestation ?"]


def test_every_campaign_and_persona_is_played() -> None:
    assert {path for path, _ in PAIRS} == set(CAMPAIGNS) and len(CAMPAIGNS) >= 5
    assert {name for _, name in PAIRS} == set(PERSONAS)


@pytest.mark.parametrize(("campaign", "persona"), PAIRS, ids=lambda v: getattr(v, "stem", v))
async def test_simulate_and_production_tell_the_same_story(campaign: Path, persona: str, tmp_path: Path,
                                                          sqlite_template: Path) -> None:
    learner = persona_learner(persona)
    real, anchor = await production(campaign, learner, tmp_path, sqlite_template)
    simulation = simulated(campaign, learner, anchor)
    assert any(f[0] == "ask" for f in real) and any(f[0] == "ask" for f in simulation)
    _debug_print(simulation, real)
    assert _diff(simulation, real) == ([], [])


@settings(max_examples=3, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(texts=st.lists(st.sampled_from(VOCABULARY) | st.none(), min_size=2, max_size=5))
def test_generated_reply_scripts_tell_the_same_story(texts: list[str | None], sqlite_template: Path) -> None:
    campaign = PROJECT_ROOT / "campaigns" / "suivi-securite.yaml"
    learner = scripted_learner(texts)
    with tempfile.TemporaryDirectory() as folder:
        real, anchor = asyncio.run(production(campaign, learner, Path(folder), sqlite_template))
    assert _diff(simulated(campaign, learner, anchor), real) == ([], [])


async def test_a_rule_changed_on_one_side_only_shows(tmp_path: Path, sqlite_template: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison is not blind: production picking quiz items another way, or the
    simulator skipping the clarification, each make the transcripts differ."""
    campaign = PROJECT_ROOT / "campaigns" / "suivi-securite.yaml"
    learner = scripted_learner(["zut", "B", "4", "oui"])
    real, anchor = await production(campaign, learner, tmp_path / "real", sqlite_template)
    assert _diff(simulated(campaign, learner, anchor), real) == ([], [])

    import engine.core.simulated_step as simulated_step
    from engine.core.flow import on_reply

    def no_clarification(state: Any, versions: Any, reply: Any, *, now: datetime, faq: Any = ()) -> Any:
        first = on_reply(state, versions, reply, now=now, faq=faq)
        if first.outcome == "clarification asked":  # the simulator alone gives up at once
            clarified = state.model_copy(update={"open_questions": tuple(
                q.model_copy(update={"clarified": True}) for q in state.open_questions)})
            return on_reply(clarified, versions, reply, now=now, faq=faq)
        return first

    with monkeypatch.context() as patch:
        patch.setattr(simulated_step, "on_reply", no_clarification)
        assert _diff(simulated(campaign, learner, anchor), real) != ([], [])

    import engine.services.send_checks as send_checks

    with monkeypatch.context() as patch:
        patch.setattr(send_checks, "quiz_seed", lambda key, step, occurrence: f"other:{step}")
        other, _ = await production(campaign, learner, tmp_path / "other", sqlite_template)
    assert _diff(simulated(campaign, learner, anchor), other) != ([], [])


def _debug_print(left: list[Fact], right: list[Fact]) -> None:  # pragma: no cover - a debugging aid
    only_sim, only_real = _diff(left, right)
    for fact in only_sim:
        print("SIM ", fact)
    for fact in only_real:
        print("REAL", fact)
