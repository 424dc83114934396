"""The overview (``/dashboard/``): the viewer's sessions in a period, with a monthly trend."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from engine.reports.overview import overview
from webhooks.dashboard.auth import CurrentViewer
from webhooks.dashboard.common import now_of, page_number
from webhooks.dashboard.render import page
from webhooks.deps import SessionDep

router = APIRouter(prefix="/dashboard")


@router.get("/", response_class=HTMLResponse)
async def overview_page(request: Request, viewer: CurrentViewer, db: SessionDep) -> Response:
    params = request.query_params
    view = await overview(db, viewer, now=now_of(request), period=params.get("period"),
                          page=page_number(params.get("page")), query=(params.get("q") or "")[:100])
    return page(request, "dashboard/overview.html", viewer, view=view, title="Vue d'ensemble")
