"""CSV exports (``/dashboard/exports/...``), scoped like the pages they come from."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from engine.reports.exports import inbox_csv, session_results_csv
from webhooks.dashboard.auth import CurrentViewer
from webhooks.dashboard.common import now_of
from webhooks.deps import RowId, SessionDep

router = APIRouter(prefix="/dashboard/exports")


def _csv(text: str, filename: str) -> Response:
    # A BOM so that Excel opens the French accents correctly.
    return Response("\ufeff" + text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


@router.get("/sessions/{session_id}.csv")
async def session_export(request: Request, session_id: RowId, viewer: CurrentViewer, db: SessionDep) -> Response:
    text = await session_results_csv(db, viewer, session_id, now=now_of(request))
    return _csv(text, f"session-{session_id}-resultats.csv")


@router.get("/inbox.csv")
async def inbox_export(request: Request, viewer: CurrentViewer, db: SessionDep) -> Response:
    state = request.query_params.get("state") or "all"
    return _csv(await inbox_csv(db, viewer, now=now_of(request), state=state), "messages.csv")
