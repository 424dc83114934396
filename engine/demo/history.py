"""Past sessions played through the real engine, so the dashboard has data on the first visit.

The sessions of a :class:`~engine.demo.cohort.HistoryPlan` ended weeks or
months before ``until``. A hand-driven clock replays all their timelines in
one pass from the earliest end to ``until``: the production tick enrols the
attendees and claims due deliveries, the send job sends them on the sandbox
channels, and each simulated learner's reply is stored as an inbound SMS (or, for a question
sent by e-mail or push, as its one-tap answer page stores it) and
processed by :func:`engine.services.inbound.process_inbound`, the same
function the worker runs. A few learners also write questions, complaints or
STOP, and trainers answer tickets (most within 48 hours, some late, the latest
not yet). Nothing is written by hand except acknowledging old alerts.

The clock jumps from one event to the next (a due delivery, a question's
deadline, a reply), at least :data:`MIN_STEP` at a time, so a six-month
campaign for 125 learners replays in seconds.
"""

from __future__ import annotations

import heapq
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, update
from sqlmodel import col, select

from engine.core.personas import PERSONAS, PersonaReplies
from engine.demo.cohort import Cohort, HistoryPlan, add_cohorts
from engine.demo.learners import DEMO_NUMBER, reply_text
from engine.services.catalog import Catalog, load_pinned
from engine.services.dispatch import send_batch
from engine.services.inbound import process_inbound
from engine.services.runtime import Clock, Runtime
from engine.services.scheduler import claim_batches, end_due_sessions
from engine.services.silence import expire_prompts
from engine.services.tickets import answer_ticket
from engine.store.base import DeliveryStatus, PromptStatus, TicketStatus
from engine.store.inbound import LINK_PROVIDER, store_inbound_event
from engine.store.migrate import upgrade_async
from engine.store.models import Alert, Delivery, Enrollment, Prompt, Ticket

MIN_STEP = timedelta(hours=1)
PROGRESS_PHASE = "historique : jours rejoués"
#: Questions sent on these channels are answered on their one-tap page.
LINKED_CHANNELS = ("email", "push")
QUESTIONS = (
    "Bonjour, où puis-je retrouver le support de la formation ?",
    "Est-ce qu'il y a une attestation de formation à télécharger ?",
    "Pouvez-vous me renvoyer la fiche sur le feedback SBI ?",
    "Je n'ai pas bien compris la différence entre un fait et un jugement, vous pouvez m'expliquer ?",
    "Est-il possible de suivre le module avancé au prochain trimestre ?",
)
COMPLAINTS = (
    "Je suis déçu : on n'a jamais reçu le support promis et la salle était trop bruyante.",
    "Pas satisfaite du tout, la formation était trop théorique pour le prix. Inadmissible.",
)
ANSWERS = (
    "Bonjour, je vous envoie le support par e-mail aujourd'hui. Bonne continuation !",
    "Bonjour, merci pour votre message : c'est noté, je reviens vers vous cette semaine.",
    "Bonjour, vous trouverez la fiche en pièce jointe de l'e-mail que je vous envoie. Bonne journée.",
)
#: A ticket is answered at once (within 48 h), late, or not yet when this recent.
UNANSWERED_WITHIN = timedelta(days=4)


@dataclass(order=True)
class _Message:
    at: datetime
    seq: int
    learner_id: int = field(compare=False)
    phone: str = field(compare=False)
    text: str = field(compare=False)
    free_text: bool = field(default=False, compare=False)
    #: An e-mail or push question is answered on its one-tap page, not by SMS.
    prompt: Prompt | None = field(default=None, compare=False)


@dataclass
class HistoryReport:
    """What the replay did (printed by the demo, asserted by tests)."""

    sessions: int = 0
    learners: int = 0
    messages: int = 0
    tickets_answered: int = 0
    steps: int = 0
    seconds: float = 0.0


@dataclass
class _HandClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class _Replay:
    rt: Runtime
    catalog: Catalog
    clock: _HandClock
    until: datetime
    rng: random.Random
    report: HistoryReport
    personas: dict[int, PersonaReplies] = field(default_factory=dict)
    phones: dict[int, str] = field(default_factory=dict)
    inbox: list[_Message] = field(default_factory=list)
    answers: list[tuple[datetime, int]] = field(default_factory=list)
    pending_ends: list[datetime] = field(default_factory=list)
    last_prompt: int = 0
    last_ticket: int = 0
    seq: int = 0
    #: ``(phase, days replayed, days in all)``, about twenty times over the replay.
    progress: Callable[[str, int, int], None] | None = None

    def post(self, at: datetime, learner_id: int, text: str, *, free_text: bool = False,
             prompt: Prompt | None = None) -> None:
        if at <= self.until:
            self.seq += 1
            heapq.heappush(self.inbox, _Message(at, self.seq, learner_id, self.phones[learner_id], text, free_text,
                                                prompt))

    async def run(self, start: datetime) -> None:
        self.clock.now = start
        days = max(1, math.ceil((self.until - start) / timedelta(days=1)))
        every, told = max(1, days // 20), 0
        while True:
            done = min(days, int((self.clock.now - start) / timedelta(days=1)))
            if self.progress is not None and done >= told + every:
                self.progress(PROGRESS_PHASE, done, days)
                told = done
            await self._tick()
            await self._discover()
            await self._schedule_answers()
            if self.clock.now >= self.until:
                if self.progress is not None and told < days:
                    self.progress(PROGRESS_PHASE, days, days)
                break
            following = min(max(await self._next_event(), self.clock.now + MIN_STEP), self.until)
            await self._deliver(following)
            self.clock.now = following
            self.report.steps += 1

    async def _tick(self) -> None:
        """The scheduler's tick with its send jobs run in-process (nothing is lost, so no recovery)."""
        batches: list[list[int]] = []

        async def enqueue(key: str, ids: list[int]) -> bool:
            batches.append(ids)
            return True

        now = self.clock.now
        if self.pending_ends and self.pending_ends[0] <= now:
            async with self.rt.sessions() as session, session.begin():
                await end_due_sessions(session, catalog=self.catalog, now=now)
            self.pending_ends = [end for end in self.pending_ends if end > now]
        await claim_batches(self.rt, now=now, enqueue=enqueue)
        for ids in batches:
            await send_batch(self.rt, ids)
        await expire_prompts(self.rt, now=now)

    async def _discover(self) -> None:
        """Each new open question gets its learner's answer (or silence), at the persona's pace."""
        async with self.rt.sessions() as session:
            prompts = (await session.exec(select(Prompt, Enrollment.campaign_version_id)
                                          .join(Enrollment, col(Enrollment.id) == col(Prompt.enrollment_id))
                                          .where(col(Prompt.id) > self.last_prompt).order_by(col(Prompt.id)))).all()
            for prompt, version_id in prompts:
                self.last_prompt = max(self.last_prompt, prompt.id or 0)
                replies = self.personas.get(prompt.learner_id)
                if prompt.status != PromptStatus.OPEN or replies is None or not replies.answers():
                    continue
                text = reply_text(replies, await load_pinned(session, version_id), prompt)
                if text:
                    linked = prompt if prompt.channel in LINKED_CHANNELS else None
                    self.post(prompt.opened_at + replies.delay(), prompt.learner_id, text, prompt=linked)

    async def _next_event(self) -> datetime:
        now = self.clock.now
        async with self.rt.sessions() as session:
            due = (await session.exec(select(func.min(Delivery.due_at)).where(
                col(Delivery.status) == DeliveryStatus.PLANNED, col(Delivery.due_at) > now))).first()
            check = func.coalesce(col(Prompt.check_at), col(Prompt.expires_at))
            deadline = (await session.exec(select(func.min(check)).where(
                col(Prompt.status) == PromptStatus.OPEN, check > now))).first()
        moments = [m.astimezone(UTC) for m in (due, deadline) if m is not None]
        moments += [end for end in self.pending_ends[:1] if end > now]
        moments += [self.inbox[0].at] if self.inbox else []
        moments += [self.answers[0][0]] if self.answers else []
        return min(moments, default=self.until)

    async def _deliver(self, upto: datetime) -> None:
        """Learners' messages and trainers' answers due by ``upto``, each at its own time."""
        while (self.inbox and self.inbox[0].at <= upto) or (self.answers and self.answers[0][0] <= upto):
            if self.answers and (not self.inbox or self.answers[0][0] <= self.inbox[0].at):
                at, ticket_id = heapq.heappop(self.answers)
                self.clock.now = at
                await self._answer(ticket_id)
                continue
            message = heapq.heappop(self.inbox)
            self.clock.now = message.at
            await self._receive(message)
        self.clock.now = upto

    async def _receive(self, message: _Message) -> None:
        # Questions and complaints come on WhatsApp (no question is ever open there: they are
        # never taken for an answer); answers, STOP and late replies by SMS, as Twilio posts them.
        sid = f"SMdemo{message.seq:08d}{message.learner_id:08d}"
        channel, prefix = ("whatsapp", "whatsapp:") if message.free_text else ("sms", "")
        sender, recipient = prefix + message.phone, prefix + DEMO_NUMBER
        async with self.rt.sessions() as session, session.begin():
            if message.prompt is not None:  # as the answer page stores it
                prompt = message.prompt
                event, _ = await store_inbound_event(
                    session, provider=LINK_PROVIDER, provider_id=f"demo:{prompt.id}", channel=prompt.channel,
                    sender=f"learner:{message.learner_id}", received_at=message.at, body=message.text,
                    learner_id=message.learner_id,
                    raw={"delivery_id": prompt.delivery_id, "prompt_id": prompt.id,
                         "question_ref": prompt.question_ref})
            else:
                event, _ = await store_inbound_event(
                    session, provider="twilio", provider_id=sid, channel=channel, sender=sender,
                    recipient=recipient, body=message.text, received_at=message.at,
                    raw={"MessageSid": sid, "From": sender, "To": recipient, "Body": message.text})
        await process_inbound(self.rt, event.id or 0)
        self.report.messages += 1

    async def _schedule_answers(self) -> None:
        async with self.rt.sessions() as session:
            tickets = (await session.exec(select(Ticket).where(col(Ticket.id) > self.last_ticket))).all()
        for ticket in tickets:
            self.last_ticket = max(self.last_ticket, ticket.id or 0)
            if ticket.created_at > self.until - UNANSWERED_WITHIN:
                continue
            late = self.rng.random() < 0.25
            delay = timedelta(hours=self.rng.uniform(60, 90) if late else self.rng.uniform(2, 30))
            at = max(ticket.created_at + delay, self.clock.now)
            if at <= self.until:
                heapq.heappush(self.answers, (at, ticket.id or 0))

    async def _answer(self, ticket_id: int) -> None:
        async with self.rt.sessions() as session, session.begin():
            ticket = await session.get(Ticket, ticket_id)
            if ticket is not None and ticket.status == TicketStatus.OPEN:
                await answer_ticket(session, ticket_id=ticket_id, author_trainer_id=ticket.assignee_id,
                                    text=self.rng.choice(ANSWERS), idempotency_key=None,
                                    close=self.rng.random() < 0.5, now=self.clock.now)
                self.report.tickets_answered += 1


def _script(replay: _Replay, cohort: Cohort) -> None:
    """Personas for every learner, and a few free texts: questions, a complaint (WhatsApp), a STOP (SMS)."""
    talkers = [lid for lid, persona, _ in cohort.learners if persona != "silencieux"]
    for lid, persona, phone in cohort.learners:
        replay.personas[lid] = PersonaReplies(PERSONAS[persona], lid)
        replay.phones[lid] = phone
    rng = replay.rng
    picks = rng.sample(talkers, min(len(talkers), 5))
    # A small history (--history-learners 3) still has its complaint: the last talker writes it.
    complainer = 3 if len(picks) > 3 else len(picks) - 1
    for n, lid in enumerate(picks):
        at = cohort.ends_at + timedelta(days=rng.choice((3, 5, 9, 10, 16, 24)), hours=rng.uniform(-4, 2))
        if n == complainer:
            replay.post(at.astimezone(UTC), lid, rng.choice(COMPLAINTS), free_text=True)
        elif n < 3:
            replay.post(at.astimezone(UTC), lid, rng.choice(QUESTIONS), free_text=True)
        else:
            replay.post((cohort.ends_at + timedelta(days=40)).astimezone(UTC), lid, "STOP")


def _recent_question(replay: _Replay, cohorts: list[Cohort]) -> None:
    """A question three days old and still unanswered: the inbox has one past its 48-hour target."""
    latest = max(cohorts, key=lambda cohort: cohort.ends_at)
    at = replay.until - timedelta(days=3)
    if at > latest.ends_at and latest.learners:
        replay.post(at, latest.learners[0][0], QUESTIONS[0], free_text=True)


async def seed_history(rt: Runtime, catalog: Catalog, *, plan: HistoryPlan, until: datetime,
                       progress: Callable[[str, int, int], None] | None = None) -> HistoryReport:
    """Writes ``plan``'s people and plays their sessions through the engine up to ``until``;
    ``progress`` hears how many days of it are replayed (the demo's bar: a few minutes' work)."""
    started = time.perf_counter()
    await upgrade_async(rt.engine)
    until = until.astimezone(UTC)
    async with rt.sessions() as session, session.begin():
        cohorts = await add_cohorts(session, plan, until=until)
    report = HistoryReport(sessions=len(cohorts), learners=sum(len(c.learners) for c in cohorts))
    if not cohorts:
        return report
    saved: Clock = rt.clock
    clock = _HandClock(until)
    rt.clock = clock
    replay = _Replay(rt, catalog, clock, until, random.Random(plan.seed), report, progress=progress)
    for cohort in cohorts:
        _script(replay, cohort)
    _recent_question(replay, cohorts)
    replay.pending_ends = sorted(c.ends_at.astimezone(UTC) for c in cohorts)
    try:
        await replay.run(min(c.ends_at for c in cohorts).astimezone(UTC) - timedelta(hours=1))
        async with rt.sessions() as session, session.begin():
            await session.exec(update(Alert).where(
                col(Alert.created_at) < until - timedelta(days=21), col(Alert.acknowledged_at).is_(None),
                col(Alert.id) % 3 != 0).values(acknowledged_at=until - timedelta(days=20)))
    finally:
        rt.clock = saved
        for channel in rt.channels.values():
            outbox = getattr(channel, "outbox", None)
            if isinstance(outbox, list):
                outbox.clear()
    report.seconds = time.perf_counter() - started
    return report
