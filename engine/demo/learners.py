"""Simulated learners for the demo: they read their open questions and answer through
the real paths: by SMS (a Twilio-signed POST to the running app) or, when the question
came by e-mail or push, on the one-tap answer page its link opens."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import httpx
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from twilio.request_validator import RequestValidator

from engine.clock import WarpedClock
from engine.commands.processes import pause
from engine.core.personas import Persona, PersonaReplies
from engine.services.catalog import PinnedCampaign, load_pinned
from engine.services.runtime import Runtime
from engine.store.base import DeliveryStatus, PromptStatus
from engine.store.models import Delivery, Enrollment, Prompt

DEMO_NUMBER = "+33700000000"
#: A message in one of these states has reached the learner's phone or inbox.
RECEIVED = (DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.READ)


def reply_text(replies: PersonaReplies, pinned: PinnedCampaign, prompt: Prompt) -> str | None:
    """What this persona answers to this open question (None when the content is gone)."""
    ref, _, question_id = prompt.question_ref.partition("#")
    if prompt.kind in ("quiz", "review"):
        bank = pinned.content.banks.get(ref)
        item = bank.item(question_id) if bank else None
        return replies.quiz_reply(item) if item else None
    source = pinned.content.surveys if prompt.kind == "survey" else pinned.content.checkins
    survey = source.get(ref)
    question = survey.question(question_id) if survey else None
    return replies.question_reply(question) if question else None


@dataclass
class _Pending:
    prompt_id: int
    at: datetime
    text: str
    phone: str
    link: str | None = None  # the one-tap answer page, for a question sent by e-mail or push


@dataclass
class SimulatedLearners:
    """Answers open prompts of the learners it plays, each with its persona's habits."""

    rt: Runtime
    clock: WarpedClock
    webhook_url: str
    auth_token: str
    personas: dict[int, tuple[Persona, str]]  # learner id -> (persona, phone)
    seen: set[int] = field(default_factory=set)
    #: Open prompts whose message has not reached the learner yet (still on its way, or retried).
    waiting: set[int] = field(default_factory=set)
    pending: list[_Pending] = field(default_factory=list)
    posted: int = 0

    async def run(self, stopping: asyncio.Event | None = None) -> None:
        """Answers as the personas would until ``stopping`` is set (or the task is cancelled)."""
        # On the one-tap page a learner taps a button: no messy spelling there.
        replies = {lid: PersonaReplies(persona if phone else replace(persona, messy=False), lid)
                   for lid, (persona, phone) in self.personas.items()}
        async with httpx.AsyncClient(timeout=10) as client:
            while stopping is None or not stopping.is_set():
                await self._discover(replies)
                now = self.clock()
                due = [p for p in self.pending if p.at <= now]
                self.pending = [p for p in self.pending if p.at > now]
                for item in due:
                    await self._post(client, item)
                await pause(stopping, 0.2)

    async def _discover(self, replies: dict[int, PersonaReplies]) -> None:
        async with self.rt.sessions() as session:
            prompts = (await session.exec(select(Prompt).where(
                col(Prompt.learner_id).in_(list(self.personas)), Prompt.status == PromptStatus.OPEN))).all()
            await self._plan(session, prompts, replies)

    async def _plan(self, session: AsyncSession, prompts: Sequence[Prompt],
                    replies: dict[int, PersonaReplies]) -> None:
        """Queues the answer to each prompt not seen yet of one of these learners.

        Only once its message has reached the learner (the provider took it): a
        prompt opens as its message is marked sending, and a learner cannot answer a
        question whose send failed and waits for a retry.
        """
        fresh = [p for p in prompts if p.id is not None and p.id not in self.seen and p.learner_id in self.personas]
        if not fresh:
            return
        received = set((await session.exec(select(Delivery.id).where(
            col(Delivery.id).in_({p.delivery_id for p in fresh}),
            col(Delivery.status).in_(RECEIVED)))).all())
        for prompt in fresh:
            assert prompt.id is not None
            if prompt.delivery_id not in received:
                self.waiting.add(prompt.id)
                continue
            self.waiting.discard(prompt.id)
            self.seen.add(prompt.id)
            answer = await planned_answer(session, prompt, replies[prompt.learner_id],
                                          self.personas[prompt.learner_id][1])
            if answer is not None:
                self.pending.append(answer)

    async def _post(self, client: httpx.AsyncClient, item: _Pending) -> None:
        if item.link is not None:
            try:
                await client.post(item.link, data={"answer": item.text})
                self.posted += 1
            except httpx.HTTPError:
                self.pending.append(item)
            return
        params = {"MessageSid": "SM" + secrets.token_hex(16), "AccountSid": "AC" + "0" * 32,
                  "From": item.phone, "To": DEMO_NUMBER, "Body": item.text, "NumMedia": "0",
                  "SmsStatus": "received", "ApiVersion": "2010-04-01"}
        signature = RequestValidator(self.auth_token).compute_signature(self.webhook_url, params)
        try:
            await client.post(self.webhook_url, data=params, headers={"X-Twilio-Signature": signature})
            self.posted += 1
        except httpx.HTTPError:
            self.pending.append(item)  # the app is starting or busy: try again


async def planned_answer(session: AsyncSession, prompt: Prompt, persona_replies: PersonaReplies,
                         phone: str) -> _Pending | None:
    """What a persona answers to ``prompt``, and when: by SMS, or on the one-tap page an e-mail
    or push question links to. None when the persona stays silent or there is nothing to answer on."""
    if not persona_replies.answers():
        return None
    enrollment = await session.get(Enrollment, prompt.enrollment_id)
    if enrollment is None or prompt.id is None:
        return None
    pinned = await load_pinned(session, enrollment.campaign_version_id)
    text = reply_text(persona_replies, pinned, prompt)
    link = None
    if prompt.channel in ("email", "push"):
        delivery = await session.get(Delivery, prompt.delivery_id)
        link = (delivery.rendered or {}).get("link") if delivery is not None else None
        if not link:
            return None
    if not text:
        return None
    return _Pending(prompt.id, prompt.opened_at + persona_replies.delay(), text, phone, link)
