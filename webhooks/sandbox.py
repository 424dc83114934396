"""The sandbox "phone": see what a learner received, and answer as them (demo and trial runs).

Mounted only when every channel is the sandbox (nothing real is ever sent), so
it cannot expose a production learner's messages. Even so, a trial run may
hold real attendees: the pages answer only clients on this machine (loopback,
with no proxy header saying the request came from elsewhere) unless
``ANCRAGE_SANDBOX_PUBLIC`` says otherwise; anyone else gets a 404. Answers
take the normal path: stored as a raw inbound event, then processed by the worker.
"""

from __future__ import annotations

import ipaddress
import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlmodel import col, select

from engine.jobs import PROCESS_INBOUND_JOB
from engine.services.labels import alert_kind, channel_name, local_time, reply_status
from engine.store.inbound import store_inbound_event
from engine.store.models import Alert, Delivery, InboundEvent, Learner
from webhooks.deps import RuntimeDep, SessionDep, StateDep, state_of
from webhooks.fields import RowId
from webhooks.queue import enqueue_safely
from webhooks.security_headers import is_cross_site

#: Headers a reverse proxy adds: present, the loopback peer is only relaying someone else.
_PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-real-ip",
                  "x-client-ip", "true-client-ip", "cf-connecting-ip")


def is_local_request(request: Request) -> bool:
    """Whether the request comes from this machine itself, not relayed by a proxy."""
    if request.client is None or any(name in request.headers for name in _PROXY_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


def is_loopback_host(host: str) -> bool:
    """Whether a ``--host`` binds to this machine only (``localhost``, 127.x, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


async def _local_only(request: Request) -> None:
    if not (is_local_request(request) or state_of(request).settings.sandbox_public):
        raise HTTPException(404, "Not Found")


router = APIRouter(prefix="/sandbox", include_in_schema=False, dependencies=[Depends(_local_only)])
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


@router.get("", response_class=HTMLResponse)
async def overview(request: Request, session: SessionDep, rt: RuntimeDep) -> HTMLResponse:
    """Every learner of the sandbox with their last message and the trainer alerts."""
    learners = (await session.exec(select(Learner).order_by(col(Learner.id)))).all()
    alerts = (await session.exec(select(Alert).order_by(col(Alert.created_at).desc()).limit(30))).all()
    names = {learner.id: f"{learner.first_name} {learner.last_name}" for learner in learners}
    zone = rt.settings.default_timezone
    shown = [{"at": local_time(a.created_at, zone), "who": names.get(a.learner_id, "?"),
              "what": alert_kind(a.kind), "reason": a.reason} for a in alerts]
    return templates.TemplateResponse(request, "sandbox_overview.html", {
        "learners": learners, "alerts": shown, "now": local_time(rt.now(), zone, "%d/%m/%Y %H:%M"),
        "zone": zone})


@router.get("/phone/{learner_id}", response_class=HTMLResponse)
async def phone(request: Request, learner_id: RowId, session: SessionDep, rt: RuntimeDep) -> HTMLResponse:
    """The learner's conversation, oldest first, as their phone would show it."""
    learner = await session.get(Learner, learner_id)
    if learner is None:
        raise HTTPException(404, "no such learner")
    sent = (await session.exec(select(Delivery).where(
        Delivery.learner_id == learner_id, col(Delivery.sent_at).is_not(None),
        Delivery.recipient == "learner"))).all()
    received = (await session.exec(select(InboundEvent).where(InboundEvent.learner_id == learner_id))).all()
    zone = rt.settings.default_timezone  # the viewer's zone, as the demo's terminal shows it
    bubbles: list[dict[str, Any]] = [
        {"at": d.sent_at, "mine": False, "text": (d.rendered or {}).get("body", ""),
         "meta": channel_name(d.channel or "sms")} for d in sent]
    bubbles += [{"at": e.received_at, "mine": True, "text": e.body, "meta": reply_status(e.status)}
                for e in received]
    bubbles.sort(key=lambda bubble: bubble["at"])
    for bubble in bubbles:
        bubble["time"] = local_time(bubble["at"], zone)
    return templates.TemplateResponse(request, "sandbox_phone.html", {
        "learner": learner, "bubbles": bubbles[-60:], "now": local_time(rt.now(), zone, "%d/%m/%Y %H:%M"),
        "zone": zone})


@router.post("/phone/{learner_id}")
async def reply(request: Request, learner_id: RowId, session: SessionDep, rt: RuntimeDep, state: StateDep,
                body: str = Form(..., max_length=1600)) -> RedirectResponse:
    """Stores the typed answer as an inbound SMS from the learner and hands it to the worker."""
    if is_cross_site(request, rt.settings.public_url):  # a page elsewhere posting via a browser
        raise HTTPException(403, "cross-site form posts are refused")
    learner = await session.get(Learner, learner_id)
    if learner is None or not learner.phone:
        raise HTTPException(404, "no such learner with a phone")
    event, created = await store_inbound_event(
        session, provider="sandbox", provider_id=f"SB{uuid.uuid4().hex}", channel="sms",
        sender=learner.phone, received_at=rt.now(), body=body, raw={"source": "sandbox phone"})
    await session.commit()
    if created and event.id is not None:
        await enqueue_safely(state.enqueue, PROCESS_INBOUND_JOB, event.id)
    return RedirectResponse(f"/sandbox/phone/{learner_id}", status_code=303)
