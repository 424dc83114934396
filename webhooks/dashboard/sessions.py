"""A session's page, and the message to all its learners."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import col, select

from engine.reports.scope import visible_session
from engine.reports.session_page import session_page
from engine.reports.team import team
from engine.services.dashboard_actions import assign_session, send_message
from engine.store.models import Enrollment
from webhooks.dashboard.auth import CheckedForm, CurrentViewer, QualityViewer
from webhooks.dashboard.common import field_error, now_of
from webhooks.dashboard.render import page, redirect
from webhooks.deps import RowId, SessionDep

router = APIRouter(prefix="/dashboard")


@router.get("/sessions/{session_id}", response_class=HTMLResponse)
async def session_view(request: Request, session_id: RowId, viewer: CurrentViewer, db: SessionDep) -> Response:
    view = await session_page(db, viewer, session_id, now=now_of(request))
    return page(request, "dashboard/session.html", viewer, view=view, title=view.title, errors={}, values={},
                trainers=await _trainers(db) if viewer.sees_everything else [])


async def _trainers(db: SessionDep) -> list[tuple[int, str]]:
    return [(m.id, m.name) for m in await team(db) if m.role == "trainer"]


@router.post("/sessions/{session_id}/trainer", response_class=HTMLResponse)
async def assign_trainer(request: Request, session_id: RowId, viewer: QualityViewer, form: CheckedForm,
                         db: SessionDep) -> Response:
    """A quality manager assigns the session to a trainer (who then sees it)."""
    training = await visible_session(db, viewer, session_id)
    raw = form.get("trainer", "")
    choices = {tid for tid, _ in await _trainers(db)}
    chosen = int(raw) if raw.isdigit() and len(raw) < 10 and int(raw) in choices else None
    await assign_session(db, training=training, trainer_id=chosen, by=viewer.trainer_id, now=now_of(request))
    await db.commit()
    return redirect(f"/dashboard/sessions/{session_id}", "saved")


@router.post("/sessions/{session_id}/message", response_class=HTMLResponse)
async def message_all(request: Request, session_id: RowId, viewer: CurrentViewer, form: CheckedForm,
                      db: SessionDep) -> Response:
    training = await visible_session(db, viewer, session_id)
    text = form.get("text", "")
    error = field_error(text)
    if error:
        view = await session_page(db, viewer, session_id, now=now_of(request))
        return page(request, "dashboard/session.html", viewer, status_code=422, view=view, title=view.title,
                        errors={"text": error}, values={"text": text},
                    trainers=await _trainers(db) if viewer.sees_everything else [])
    enrollments = list((await db.exec(select(Enrollment).where(col(Enrollment.session_id) == training.id))).all())
    await send_message(db, enrollments=enrollments, text=text, by=viewer.trainer_id, now=now_of(request))
    await db.commit()
    return redirect(f"/dashboard/sessions/{session_id}", "sent")
