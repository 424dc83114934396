"""A session's page, and the message to all its learners."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import col, select

from engine.reports.scope import visible_session
from engine.reports.session_page import session_page
from engine.services.dashboard_actions import send_message
from engine.store.models import Enrollment
from webhooks.dashboard.auth import CheckedForm, CurrentViewer
from webhooks.dashboard.common import field_error, now_of
from webhooks.dashboard.render import page, redirect
from webhooks.deps import RowId, SessionDep

router = APIRouter(prefix="/dashboard")


@router.get("/sessions/{session_id}", response_class=HTMLResponse)
async def session_view(request: Request, session_id: RowId, viewer: CurrentViewer, db: SessionDep) -> Response:
    view = await session_page(db, viewer, session_id, now=now_of(request))
    return page(request, "dashboard/session.html", viewer, view=view, title=view.title, errors={}, values={})


@router.post("/sessions/{session_id}/message", response_class=HTMLResponse)
async def message_all(request: Request, session_id: RowId, viewer: CurrentViewer, form: CheckedForm,
                      db: SessionDep) -> Response:
    training = await visible_session(db, viewer, session_id)
    text = form.get("text", "")
    error = field_error(text)
    if error:
        view = await session_page(db, viewer, session_id, now=now_of(request))
        return page(request, "dashboard/session.html", viewer, status_code=422, view=view, title=view.title,
                    errors={"text": error}, values={"text": text})
    enrollments = list((await db.exec(select(Enrollment).where(col(Enrollment.session_id) == training.id))).all())
    await send_message(db, enrollments=enrollments, text=text, by=viewer.trainer_id, now=now_of(request))
    await db.commit()
    return redirect(f"/dashboard/sessions/{session_id}", "sent")
