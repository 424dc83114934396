"""The inbox: list, one ticket, answer (sent to the learner), triage, close and reopen."""

from __future__ import annotations

import re
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from engine.content.models import FaqEntry
from engine.reports.inbox import inbox, ticket_page
from engine.reports.scope import Viewer, visible_ticket
from engine.services import dashboard_actions as actions
from engine.services.texts import faq_entries
from engine.services.tickets import answer_ticket
from engine.store.base import TicketCategory
from webhooks.dashboard.auth import CheckedForm, CurrentViewer
from webhooks.dashboard.common import field_error, now_of, page_number
from webhooks.dashboard.render import page, redirect
from webhooks.deps import RowId, SessionDep, state_of

router = APIRouter(prefix="/dashboard")


def _faq(request: Request) -> list[FaqEntry]:
    """The organisation's FAQ (the content library's ``faq.yaml``), as the inbound path reads it."""
    return faq_entries(state_of(request).settings.content_dir)


@router.get("/inbox", response_class=HTMLResponse)
async def inbox_page(request: Request, viewer: CurrentViewer, db: SessionDep) -> Response:
    params = request.query_params
    view = await inbox(db, viewer, now=now_of(request), state=params.get("state") or "open",
                       category=params.get("category") or "", mine=params.get("mine") == "1",
                       page=page_number(params.get("page")))
    return page(request, "dashboard/inbox.html", viewer, view=view, title="Messages")


async def _ticket(request: Request, viewer: Viewer, db: SessionDep, ticket_id: int, *, status_code: int = 200,
                  errors: dict[str, str] | None = None, values: dict[str, str] | None = None) -> Response:
    view = await ticket_page(db, viewer, ticket_id, now=now_of(request))
    entry = next((e for e in _faq(request) if e.id == view.faq_entry_id), None)
    if not viewer.sees_everything:
        view.assignees = [(tid, name) for tid, name in view.assignees if tid == viewer.trainer_id
                          or tid == view.ticket.assignee_id]
    values = {"answer_key": secrets.token_urlsafe(16), **(values or {})}
    return page(request, "dashboard/ticket.html", viewer, status_code=status_code, view=view, faq=entry,
                title=f"Message #{ticket_id}", errors=errors or {}, values=values,
                categories=[c.value for c in TicketCategory])


@router.get("/inbox/{ticket_id}", response_class=HTMLResponse)
async def ticket_view(request: Request, ticket_id: RowId, viewer: CurrentViewer, db: SessionDep) -> Response:
    values = {"text": entry.answer} if (entry := await _faq_answer(request, viewer, db, ticket_id)) else {}
    return await _ticket(request, viewer, db, ticket_id, values=values)


async def _faq_answer(request: Request, viewer: Viewer, db: SessionDep, ticket_id: int) -> FaqEntry | None:
    """With ``?faq=1`` the FAQ suggestion fills the answer box (one click, no JavaScript)."""
    if request.query_params.get("faq") != "1":
        return None
    ticket = await visible_ticket(db, viewer, ticket_id)
    return next((e for e in _faq(request) if e.id == ticket.faq_entry_id), None)


_ANSWER_KEY = re.compile(r"[A-Za-z0-9_-]{16,40}")


@router.post("/inbox/{ticket_id}/answer", response_class=HTMLResponse)
async def answer(request: Request, ticket_id: RowId, viewer: CurrentViewer, form: CheckedForm,
                 db: SessionDep) -> Response:
    ticket = await visible_ticket(db, viewer, ticket_id)
    text = form.get("text", "")
    # Each rendering of the answer form carries its own key: a double submit is one answer, a
    # second answer with the same words (from a new form) is another.
    form_key = form.get("answer_key", "")
    key = f"form:{form_key}" if _ANSWER_KEY.fullmatch(form_key) else None
    error = field_error(text)
    if error:
        return await _ticket(request, viewer, db, ticket_id, status_code=422, errors={"text": error},
                             values={"text": text, **({"answer_key": form_key} if key else {})})
    now = now_of(request)
    if key is None and await actions.is_resubmitted_answer(db, ticket=ticket, text=text, now=now):
        return redirect(f"/dashboard/inbox/{ticket_id}", "answered")
    await answer_ticket(db, ticket_id=ticket_id, author_trainer_id=viewer.trainer_id, text=text.strip(),
                        idempotency_key=key, close=form.get("close") == "1", now=now)
    await db.commit()
    return redirect(f"/dashboard/inbox/{ticket_id}", "answered")


@router.post("/inbox/{ticket_id}/triage", response_class=HTMLResponse)
async def triage(request: Request, ticket_id: RowId, viewer: CurrentViewer, form: CheckedForm,
                 db: SessionDep) -> Response:
    ticket = await visible_ticket(db, viewer, ticket_id)
    category = form.get("category") or None
    if category not in {c.value for c in TicketCategory}:
        category = None
    raw = form.get("assignee", "")
    assignee = int(raw) if raw.isdigit() and len(raw) < 10 else None
    view = await ticket_page(db, viewer, ticket_id, now=now_of(request))
    allowed = {tid for tid, _ in view.assignees}
    if not viewer.sees_everything:
        allowed = {viewer.trainer_id, ticket.assignee_id or 0}
    await actions.set_ticket_triage(db, ticket=ticket, category=category,
                                    assignee_id=assignee if assignee in allowed else None, by=viewer.trainer_id,
                                    now=now_of(request))
    await db.commit()
    return redirect(f"/dashboard/inbox/{ticket_id}", "saved")


@router.post("/inbox/{ticket_id}/close", response_class=HTMLResponse)
async def close(request: Request, ticket_id: RowId, viewer: CurrentViewer, form: CheckedForm,
                db: SessionDep) -> Response:
    ticket = await visible_ticket(db, viewer, ticket_id)
    await actions.close_ticket(db, ticket=ticket, by=viewer.trainer_id, now=now_of(request))
    await db.commit()
    return redirect(f"/dashboard/inbox/{ticket_id}", "saved")


@router.post("/inbox/{ticket_id}/reopen", response_class=HTMLResponse)
async def reopen(request: Request, ticket_id: RowId, viewer: CurrentViewer, form: CheckedForm,
                 db: SessionDep) -> Response:
    ticket = await visible_ticket(db, viewer, ticket_id)
    await actions.reopen_ticket(db, ticket=ticket, by=viewer.trainer_id, now=now_of(request))
    await db.commit()
    return redirect(f"/dashboard/inbox/{ticket_id}", "saved")
