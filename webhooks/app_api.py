"""The learner app's API: device registration, answers, recent messages.

Authenticated per learner with a signed bearer token (``issue_app_token``).
Answers follow the webhook path (store raw → enqueue): the processor grades
them exactly like an SMS reply.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from engine.jobs import PROCESS_INBOUND_JOB
from engine.store.base import DeliveryStatus, PromptStatus
from engine.store.inbound import store_inbound_event
from engine.store.models import Delivery, Prompt, PushToken
from webhooks.deps import CurrentLearner, RuntimeDep, SessionDep, StateDep
from webhooks.fields import MAX_ROW_ID, Text
from webhooks.queue import enqueue_safely

router = APIRouter(prefix="/api/v1/app", tags=["learner app"])

MAX_ANSWER_CHARS = 2000
_TAKEN = "this device is signed in to another account: sign out there first"
_SHOWN = (DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.READ)


class DeviceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: Text = Field(min_length=1, max_length=512)
    platform: Text = Field(pattern="^(android|ios|web)$")


class DeviceOut(BaseModel):
    token: str
    platform: str
    registered: bool


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    delivery_id: int | None = Field(default=None, ge=1, le=MAX_ROW_ID)
    text: Text = Field(min_length=1, max_length=MAX_ANSWER_CHARS)
    idempotency_key: Text | None = Field(default=None, min_length=1, max_length=80)


class AnswerOut(BaseModel):
    event_id: int
    duplicate: bool


class MessageOut(BaseModel):
    delivery_id: int
    kind: str
    channel: str | None
    status: str
    sent_at: datetime | None
    title: str | None
    body: str | None
    link: str | None
    open_question: dict[str, Any] | None = None


@router.post("/devices", response_model=DeviceOut, status_code=201,
             responses={409: {"description": "this token is registered to another learner"}})
async def register_device(device: DeviceIn, learner: CurrentLearner, session: SessionDep,
                          rt: RuntimeDep) -> DeviceOut:
    """Register (or re-enable) this learner's push token.

    A token registered to another learner stays theirs (409) until they sign
    out on that device: otherwise anyone holding a token could divert a
    learner's questions and answer links to their own account.
    """
    row = (await session.exec(select(PushToken).where(col(PushToken.token) == device.token))).first()
    if row is not None and row.learner_id != learner.id:
        raise HTTPException(status.HTTP_409_CONFLICT, _TAKEN)
    if row is None:
        row = PushToken(learner_id=learner.id or 0, token=device.token, platform=device.platform,
                        created_at=rt.now())
    row.platform, row.disabled_at = device.platform, None
    session.add(row)
    try:
        await session.commit()
    except IntegrityError:  # registered by someone else between our read and write
        await session.rollback()
        raise HTTPException(status.HTTP_409_CONFLICT, _TAKEN) from None
    return DeviceOut(token=row.token, platform=row.platform, registered=True)


@router.delete("/devices/{token}", status_code=204, response_class=Response)
async def unregister_device(token: str, learner: CurrentLearner, session: SessionDep) -> Response:
    """Forget a push token (sign-out); idempotent, and only the owner's token is touched."""
    row = (await session.exec(select(PushToken).where(
        col(PushToken.token) == token[:512], col(PushToken.learner_id) == learner.id))).first()
    if row is not None:
        await session.delete(row)
        await session.commit()
    return Response(status_code=204)


def answer_provider_id(learner_id: int, answer: AnswerIn, key: str | None, now: datetime) -> str:
    """Dedupe key: the client's idempotency key, else a hash of what was answered.

    Without a key, the same text to the same delivery is the same answer (an app
    retry); free text with no delivery is deduplicated within the hour only.
    """
    if key:
        return f"l{learner_id}:k:{key}"
    scope = str(answer.delivery_id) if answer.delivery_id else now.strftime("%Y%m%d%H")
    digest = hashlib.sha256(f"{learner_id}\x1f{scope}\x1f{answer.text}".encode()).hexdigest()
    return f"l{learner_id}:h:{digest[:40]}"


@router.post("/answers", response_model=AnswerOut, status_code=202,
             responses={404: {"description": "not this learner's delivery"}})
async def post_answer(
    answer: AnswerIn, learner: CurrentLearner, session: SessionDep, rt: RuntimeDep,
    state: StateDep,
    idempotency_key: Annotated[str | None, Header(max_length=80)] = None,
) -> AnswerOut:
    """Store the learner's answer (or question) and queue it for processing."""
    assert learner.id is not None
    raw: dict[str, Any] = {"delivery_id": answer.delivery_id}
    if answer.delivery_id is not None:
        delivery = await session.get(Delivery, answer.delivery_id)
        if delivery is None or delivery.learner_id != learner.id:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such delivery")
        prompt = (await session.exec(select(Prompt).where(
            col(Prompt.delivery_id) == delivery.id, col(Prompt.status) == PromptStatus.OPEN)
            .order_by(col(Prompt.id).desc()).limit(1))).first()
        if prompt is not None:
            raw |= {"prompt_id": prompt.id, "question_ref": prompt.question_ref}
    key = answer.idempotency_key or (idempotency_key.replace("\x00", "") or None
                                     if idempotency_key else None)
    now = rt.now()
    event, created = await store_inbound_event(
        session, provider="app", provider_id=answer_provider_id(learner.id, answer, key, now),
        channel="push", sender=f"learner:{learner.id}", received_at=now, body=answer.text,
        raw=raw, learner_id=learner.id)
    await session.commit()
    assert event.id is not None
    if created:
        await enqueue_safely(state.enqueue, PROCESS_INBOUND_JOB, event.id)
    return AnswerOut(event_id=event.id, duplicate=not created)


@router.get("/messages", response_model=list[MessageOut])
async def recent_messages(learner: CurrentLearner, session: SessionDep,
                          limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[MessageOut]:
    """The learner's latest sent messages, newest first, with any question still open."""
    deliveries = (await session.exec(select(Delivery).where(
        col(Delivery.learner_id) == learner.id, col(Delivery.status).in_(_SHOWN))
        .order_by(col(Delivery.sent_at).desc(), col(Delivery.id).desc()).limit(limit))).all()
    ids = [d.id for d in deliveries]
    prompts = {p.delivery_id: p for p in (await session.exec(select(Prompt).where(
        col(Prompt.delivery_id).in_(ids), col(Prompt.status) == PromptStatus.OPEN))).all()}
    out = []
    for d in deliveries:
        rendered = d.rendered or {}
        prompt = prompts.get(d.id or 0)
        out.append(MessageOut(
            delivery_id=d.id or 0, kind=d.kind, channel=d.channel, status=d.status,
            sent_at=d.sent_at, title=rendered.get("title") or rendered.get("subject"),
            body=rendered.get("body"), link=rendered.get("link"),
            open_question=None if prompt is None else {
                "prompt_id": prompt.id, "question_ref": prompt.question_ref,
                "expectation": prompt.expectation, "expires_at": prompt.expires_at.isoformat()}))
    return out
