"""A learner's page and its actions: note, at-risk mark, pause / resume / stop, one-off message."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import col, select

from engine.reports.learner_page import learner_page
from engine.reports.scope import NotVisible, Viewer, sessions_filter, visible_learner
from engine.services import dashboard_actions as actions
from engine.store.models import Enrollment
from webhooks.dashboard.auth import CheckedForm, CurrentViewer
from webhooks.dashboard.common import field_error, now_of
from webhooks.dashboard.render import page, redirect
from webhooks.deps import RowId, SessionDep

router = APIRouter(prefix="/dashboard")


async def _render(request: Request, viewer: Viewer, db: SessionDep, learner_id: int, *, status_code: int = 200,
                  errors: dict[str, str] | None = None, values: dict[str, str] | None = None) -> Response:
    view = await learner_page(db, viewer, learner_id)
    return page(request, "dashboard/learner.html", viewer, status_code=status_code, view=view, title=view.name,
                errors=errors or {}, values=values or {})


@router.get("/learners/{learner_id}", response_class=HTMLResponse)
async def learner_view(request: Request, learner_id: RowId, viewer: CurrentViewer, db: SessionDep) -> Response:
    return await _render(request, viewer, db, learner_id)


@router.post("/learners/{learner_id}/notes", response_class=HTMLResponse)
async def add_note(request: Request, learner_id: RowId, viewer: CurrentViewer, form: CheckedForm,
                   db: SessionDep) -> Response:
    learner = await visible_learner(db, viewer, learner_id)
    body = form.get("body", "")
    error = field_error(body, max_length=4000)
    if error:
        return await _render(request, viewer, db, learner_id, status_code=422, errors={"body": error},
                             values={"body": body})
    await actions.add_note(db, learner=learner, body=body, by=viewer.trainer_id, now=now_of(request))
    await db.commit()
    return redirect(f"/dashboard/learners/{learner_id}", "saved")


@router.post("/learners/{learner_id}/at-risk", response_class=HTMLResponse)
async def set_at_risk(request: Request, learner_id: RowId, viewer: CurrentViewer, form: CheckedForm,
                      db: SessionDep) -> Response:
    learner = await visible_learner(db, viewer, learner_id)
    reason = form.get("reason", "")[:300]
    await actions.mark_at_risk(db, learner=learner, at_risk=form.get("at_risk") == "1", reason=reason,
                               by=viewer.trainer_id, now=now_of(request))
    await db.commit()
    return redirect(f"/dashboard/learners/{learner_id}", "saved")


@router.post("/learners/{learner_id}/enrollments/{enrollment_id}", response_class=HTMLResponse)
async def enrollment_action(request: Request, learner_id: RowId, enrollment_id: RowId, viewer: CurrentViewer,
                            form: CheckedForm, db: SessionDep) -> Response:
    learner = await visible_learner(db, viewer, learner_id)
    enrollment = (await db.exec(select(Enrollment).where(
        col(Enrollment.id) == enrollment_id, col(Enrollment.learner_id) == learner_id,
        sessions_filter(viewer, Enrollment.session_id)))).first()
    if enrollment is None:
        raise NotVisible(0)
    try:
        await actions.act_on_enrollment(db, enrollment=enrollment, learner=learner, action=form.get("action", ""),
                                        by=viewer.trainer_id, now=now_of(request))
    except ValueError:
        return redirect(f"/dashboard/learners/{learner_id}")
    await db.commit()
    return redirect(f"/dashboard/learners/{learner_id}", "saved")


@router.post("/learners/{learner_id}/message", response_class=HTMLResponse)
async def message(request: Request, learner_id: RowId, viewer: CurrentViewer, form: CheckedForm,
                  db: SessionDep) -> Response:
    await visible_learner(db, viewer, learner_id)
    text = form.get("text", "")
    error = field_error(text)
    if error:
        return await _render(request, viewer, db, learner_id, status_code=422, errors={"text": error},
                             values={"text": text})
    enrollments = list((await db.exec(select(Enrollment).where(
        col(Enrollment.learner_id) == learner_id, sessions_filter(viewer, Enrollment.session_id)).order_by(
        col(Enrollment.created_at).desc()))).all())
    sent = await actions.send_message(db, enrollments=enrollments[:1], text=text, by=viewer.trainer_id,
                                      now=now_of(request))
    await db.commit()
    return redirect(f"/dashboard/learners/{learner_id}", "sent" if sent else None)
