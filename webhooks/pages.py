"""One-tap answer pages (``/r/{token}``) and e-mail unsubscribe (``/u/{token}``).

Plain HTML forms, no JavaScript, for the phones learners read e-mail and push
on. Every failure is a friendly page, never a traceback. Answers take the
webhook path (store raw → enqueue); the provider id ``{token hash}:{prompt}``
makes a second tap on the same question a duplicate.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.jobs import PROCESS_INBOUND_JOB
from engine.links import InvalidToken, verify
from engine.services.compose import ANSWER_LINK_PURPOSE, UNSUBSCRIBE_PURPOSE
from engine.services.link_answers import link_learner_locale, quiz_verdict
from engine.store.base import Channel, PromptStatus
from engine.store.inbound import LINK_PROVIDER, store_inbound_event
from engine.store.models import Delivery, InboundEvent, Learner, Prompt
from engine.store.queries import record_opt_out
from webhooks import answer_form
from webhooks.deps import RuntimeDep, SessionDep, StateDep
from webhooks.fields import row_id
from webhooks.intake import parse_form, read_body
from webhooks.page_texts import locale_from_header, texts_for
from webhooks.queue import enqueue_safely
from webhooks.security_headers import is_cross_site

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))

MAX_PAGE_FORM_BYTES = 16 * 1024


def _page(request: Request, template: str, status_code: int = 200, **context: Any
          ) -> HTMLResponse:
    """A page; its security headers (no-store, CSP, ...) come from ``SecurityHeaders``."""
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def _cross_site(request: Request, rt: RuntimeDep) -> HTMLResponse | None:
    """The refusal page for a form POST another site made the browser send, if it is one."""
    if not is_cross_site(request, rt.settings.public_url):
        return None
    t = texts_for(locale_from_header(request.headers.get("accept-language")))
    return _message(request, t, "invalid", 403)


def _message(request: Request, t: dict[str, str], key: str, status_code: int = 200,
             **extra: Any) -> HTMLResponse:
    return _page(request, "message.html", status_code, t=t, title=t[f"{key}_title"],
                 body=t[f"{key}_body"], **extra)


async def _texts(request: Request, rt: RuntimeDep, session: AsyncSession, token: str,
                 purpose: str) -> dict[str, str]:
    """The learner's language when the link is genuine (even expired), else the browser's."""
    locale = await link_learner_locale(session, secret=rt.settings.secret_key, token=token, purpose=purpose)
    return texts_for(locale or locale_from_header(request.headers.get("accept-language")))


async def _verify(request: Request, rt: RuntimeDep, session: AsyncSession, token: str, purpose: str
                  ) -> dict[str, Any] | HTMLResponse:
    try:
        return verify(rt.settings.secret_key, token, purpose=purpose, now=rt.now())
    except InvalidToken as exc:
        t = await _texts(request, rt, session, token, purpose)
        if str(exc) == "link expired":
            return _message(request, t, "expired", 410)
        return _message(request, t, "invalid", 400)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:32]


async def _question(session: AsyncSession, data: dict[str, Any]
                    ) -> tuple[Delivery, Prompt, Learner] | None:
    delivery_id, question_ref = row_id(data.get("d")), data.get("q")
    if delivery_id is None or not isinstance(question_ref, str) or "\x00" in question_ref:
        return None
    delivery = await session.get(Delivery, delivery_id)
    if delivery is None:
        return None
    prompt = (await session.exec(select(Prompt).where(
        col(Prompt.delivery_id) == delivery_id, col(Prompt.question_ref) == question_ref)
        .order_by(col(Prompt.id).desc()).limit(1))).first()
    learner = await session.get(Learner, delivery.learner_id)
    if prompt is None or learner is None or learner.erased_at is not None:
        return None
    return delivery, prompt, learner


def _closed(request: Request, t: dict[str, str], prompt: Prompt, rt: RuntimeDep
            ) -> HTMLResponse | None:
    if prompt.status == PromptStatus.ANSWERED:
        return _message(request, t, "answered")
    if prompt.status != PromptStatus.OPEN or prompt.expires_at <= rt.now():
        return _message(request, t, "closed", 410)
    return None


def _form(request: Request, t: dict[str, str], delivery: Delivery, prompt: Prompt,
          error: str | None = None) -> HTMLResponse:
    rendered = delivery.rendered or {}
    return _page(request, "answer.html", 400 if error else 200, t=t,
                 title=rendered.get("title") or rendered.get("subject") or t["answer_title"],
                 question=rendered.get("body") or "", kind=answer_form.kind_of(prompt.expectation),
                 options=answer_form.options(prompt.expectation, t), error=error)


async def _linked_question(request: Request, rt: RuntimeDep, session: AsyncSession, token: str
                           ) -> tuple[Delivery, Prompt, Learner] | HTMLResponse:
    """The question an answer link points at, or the friendly page saying why there is none."""
    data = await _verify(request, rt, session, token, ANSWER_LINK_PURPOSE)
    if isinstance(data, HTMLResponse):
        return data
    found = await _question(session, data)
    if found is None:
        return _message(request, await _texts(request, rt, session, token, ANSWER_LINK_PURPOSE), "missing", 404)
    return found


@router.get("/r/{token}", response_class=HTMLResponse)
async def answer_page(token: str, request: Request, rt: RuntimeDep, session: SessionDep
                      ) -> HTMLResponse:
    found = await _linked_question(request, rt, session, token)
    if isinstance(found, HTMLResponse):
        return found
    delivery, prompt, learner = found
    t = texts_for(learner.locale)
    return _closed(request, t, prompt, rt) or _form(request, t, delivery, prompt)


@router.post("/r/{token}", response_class=HTMLResponse)
async def answer_submit(token: str, request: Request, rt: RuntimeDep, session: SessionDep,
                        state: StateDep) -> HTMLResponse:
    refused = _cross_site(request, rt)
    if refused is not None:
        return refused
    found = await _linked_question(request, rt, session, token)
    if isinstance(found, HTMLResponse):
        return found
    delivery, prompt, learner = found
    t = texts_for(learner.locale)
    provider_id = f"{token_hash(token)}:{prompt.id}"
    already = (await session.exec(select(InboundEvent.id).where(
        col(InboundEvent.provider) == LINK_PROVIDER,
        col(InboundEvent.provider_id) == provider_id))).first()
    if already is not None:
        return _message(request, t, "thanks")
    closed = _closed(request, t, prompt, rt)
    if closed is not None:
        return closed
    try:
        form = parse_form(await read_body(request, MAX_PAGE_FORM_BYTES),
                          request.headers.get("content-type"))
    except HTTPException:
        return _form(request, t, delivery, prompt, t["invalid_answer"])
    body = answer_form.normalise(prompt.expectation, form.get("answer", ""), t)
    if body is None:
        kind = answer_form.kind_of(prompt.expectation)
        return _form(request, t, delivery, prompt,
                     t["empty_text"] if kind == "text" else t["invalid_answer"])
    event, created = await store_inbound_event(
        session, provider=LINK_PROVIDER, provider_id=provider_id, channel=prompt.channel,
        sender=f"learner:{learner.id}", received_at=rt.now(), body=body, learner_id=learner.id,
        raw={"delivery_id": delivery.id, "prompt_id": prompt.id,
             "question_ref": prompt.question_ref})
    await session.commit()
    if created and event.id is not None:
        await enqueue_safely(state.enqueue, PROCESS_INBOUND_JOB, event.id)
    grade = await quiz_verdict(session, prompt=prompt, answer=body, locale=learner.locale)
    if grade is not None:  # right or wrong, on the page as in the SMS
        return _page(request, "message.html", t=t, title=t["right_title" if grade.correct else "wrong_title"],
                     body=grade.feedback)
    return _message(request, t, "thanks")


async def _unsubscriber(request: Request, rt: RuntimeDep, session: AsyncSession, token: str
                        ) -> tuple[Learner, str] | HTMLResponse:
    data = await _verify(request, rt, session, token, UNSUBSCRIBE_PURPOSE)
    if isinstance(data, HTMLResponse):
        return data
    learner_id, channel = row_id(data.get("l")), data.get("c", Channel.EMAIL.value)
    learner = await session.get(Learner, learner_id) if learner_id is not None else None
    if learner is None or learner.erased_at is not None or channel not in set(Channel):
        t = texts_for(locale_from_header(request.headers.get("accept-language")))
        return _message(request, t, "invalid", 400)
    return learner, str(channel)


@router.get("/u/{token}", response_class=HTMLResponse)
async def unsubscribe_page(token: str, request: Request, rt: RuntimeDep, session: SessionDep
                           ) -> HTMLResponse:
    """A confirmation page: link scanners follow GETs, so a GET never unsubscribes."""
    found = await _unsubscriber(request, rt, session, token)
    if isinstance(found, HTMLResponse):
        return found
    learner, channel = found
    t = texts_for(learner.locale)
    if getattr(learner, f"opted_out_{channel}_at") is not None:
        return _page(request, "message.html", t=t, title=t["unsub_done_title"],
                     body=t["unsub_already"])
    return _message(request, t, "unsub", button=t["unsub_button"])


@router.post("/u/{token}", response_class=HTMLResponse)
async def unsubscribe(token: str, request: Request, rt: RuntimeDep, session: SessionDep
                      ) -> HTMLResponse:
    """Opt out at once: the confirm button and RFC 8058 one-click POSTs alike."""
    refused = _cross_site(request, rt)
    if refused is not None:
        return refused
    found = await _unsubscriber(request, rt, session, token)
    if isinstance(found, HTMLResponse):
        return found
    learner, channel = found
    await record_opt_out(session, learner_id=learner.id or 0, channel=channel, at=rt.now())
    await session.commit()
    return _message(request, texts_for(learner.locale), "unsub_done")
