"""Learners at risk, tasks (done / not done) and the alerts feed (acknowledge)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from engine.reports.alerts import TASK, alerts_feed, at_risk_page, tasks
from engine.reports.scope import NotVisible, visible_alert
from engine.services import dashboard_actions as actions
from webhooks.dashboard.auth import CheckedForm, CurrentViewer
from webhooks.dashboard.common import now_of, page_number
from webhooks.dashboard.render import page, redirect
from webhooks.dashboard.texts import SUGGESTED_ACTION
from webhooks.deps import RowId, SessionDep

router = APIRouter(prefix="/dashboard")


@router.get("/at-risk", response_class=HTMLResponse)
async def at_risk_list(request: Request, viewer: CurrentViewer, db: SessionDep) -> Response:
    view = await at_risk_page(db, viewer, page=page_number(request.query_params.get("page")))
    return page(request, "dashboard/at_risk.html", viewer, view=view, suggested=SUGGESTED_ACTION,
                title="Apprenants à risque")


@router.get("/tasks", response_class=HTMLResponse)
async def tasks_page(request: Request, viewer: CurrentViewer, db: SessionDep) -> Response:
    params = request.query_params
    view = await tasks(db, viewer, show=params.get("show") or "open", page=page_number(params.get("page")))
    return page(request, "dashboard/tasks.html", viewer, view=view, title="Tâches")


@router.post("/tasks/{task_id}/done", response_class=HTMLResponse)
async def task_done(request: Request, task_id: RowId, viewer: CurrentViewer, form: CheckedForm,
                    db: SessionDep) -> Response:
    task = await visible_alert(db, viewer, task_id)
    if task.kind != TASK:
        raise NotVisible(0)
    await actions.set_task_done(db, task=task, done=form.get("done") != "0", by=viewer.trainer_id,
                                now=now_of(request))
    await db.commit()
    return redirect("/dashboard/tasks", "saved")


@router.get("/alerts", response_class=HTMLResponse)
async def alerts_page(request: Request, viewer: CurrentViewer, db: SessionDep) -> Response:
    params = request.query_params
    view = await alerts_feed(db, viewer, show=params.get("show") or "open", page=page_number(params.get("page")))
    return page(request, "dashboard/alerts.html", viewer, view=view, title="Alertes")


@router.post("/alerts/{alert_id}/ack", response_class=HTMLResponse)
async def acknowledge(request: Request, alert_id: RowId, viewer: CurrentViewer, form: CheckedForm,
                      db: SessionDep) -> Response:
    alert = await visible_alert(db, viewer, alert_id)
    await actions.acknowledge_alert(db, alert=alert, by=viewer.trainer_id, now=now_of(request))
    await db.commit()
    return redirect("/dashboard/alerts", "saved")
