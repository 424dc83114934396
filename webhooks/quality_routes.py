"""The quality manager's screens: improvement register, complaints register, testimonials
library, public-indicator choice and the Qualiopi pack download.

Each route checks the viewer, calls one use case or read model, renders. The viewer check
is a minimal one (a quality manager's API key, ``X-Api-Key``) until the dashboard's login
dependency replaces :func:`quality_viewer`; the routes keep their shape.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.core.indicators import Period
from engine.reports.evidence.pack import build_pack, table_csv
from engine.reports.evidence.tables import SOURCE_LABELS, STATUS_LABELS, improvements_table
from engine.services import complaints, improvements, public_indicators, testimonials
from engine.store.base import TrainerRole
from engine.store.models import Trainer
from webhooks.deps import MAX_ROW_ID, CurrentApiKey, RowId, RuntimeDep, SessionDep

router = APIRouter(prefix="/dashboard/quality", include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
_HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff"}
Page = Annotated[int, Query(ge=1, le=10_000)]


@dataclass(frozen=True)
class Viewer:
    """Who is asking (a plain value: it outlives the request's transaction)."""

    id: int
    name: str
    timezone: str


async def quality_viewer(key: CurrentApiKey, session: SessionDep) -> Viewer:
    """A quality manager, or 404 for anyone else (a trainer does not learn these pages exist)."""
    trainer = await session.get(Trainer, key.trainer_id) if key.trainer_id is not None else None
    if trainer is None or trainer.role != TrainerRole.QUALITY or trainer.disabled_at is not None:
        raise HTTPException(status.HTTP_404_NOT_FOUND)
    return Viewer(trainer.id or 0, trainer.name, trainer.timezone)


QualityViewer = Annotated[Viewer, Depends(quality_viewer)]


def _page(request: Request, template: str, viewer: Viewer, **context: Any) -> HTMLResponse:
    zone = ZoneInfo(viewer.timezone)

    def fmt(moment: datetime | None) -> str:
        return moment.astimezone(zone).strftime("%d/%m/%Y %H:%M") if moment else ""

    return templates.TemplateResponse(request, f"quality/{template}", {"fmt": fmt, **context}, headers=_HEADERS)


@asynccontextmanager
async def _committed(session: AsyncSession) -> AsyncIterator[None]:
    """Commits what the block did (the viewer check already opened the session's transaction)."""
    try:
        yield
    except BaseException:
        await session.rollback()
        raise
    await session.commit()


def _back(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=status.HTTP_303_SEE_OTHER)


def _today(rt: RuntimeDep, viewer: Viewer) -> date:
    return rt.now().astimezone(ZoneInfo(viewer.timezone)).date()


# --- improvement register -------------------------------------------------------------


async def _register(request: Request, rt: RuntimeDep, session: SessionDep, viewer: Viewer, *,
                    status_filter: str | None, source: str | None, page: int, form: dict[str, Any] | None = None,
                    error: str | None = None) -> HTMLResponse:
    view = await improvements.register_page(session, today=_today(rt, viewer), status=status_filter or None,
                                            source_kind=source or None, page=page)
    trainers = (await session.exec(select(Trainer.id, Trainer.name).where(col(Trainer.disabled_at).is_(None)))).all()
    return _page(request, "improvements.html", viewer, title="Registre d'amélioration", view=view,
                 statuses=STATUS_LABELS, sources=SOURCE_LABELS, trainers=trainers, form=form or {}, error=error,
                 filters={"status": status_filter, "source": source})


@router.get("/ameliorations", response_class=HTMLResponse)
async def register_page(request: Request, rt: RuntimeDep, session: SessionDep, viewer: QualityViewer,
                        status_filter: Annotated[str | None, Query(alias="status")] = None,
                        source: str | None = None, page: Page = 1) -> HTMLResponse:
    return await _register(request, rt, session, viewer, status_filter=status_filter, source=source, page=page)


@router.get("/ameliorations.csv")
async def register_csv(session: SessionDep, viewer: QualityViewer) -> Response:
    table = improvements_table(await improvements.action_rows(session))
    return Response(table_csv(table), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="ameliorations.csv"'})


@router.post("/ameliorations", response_class=HTMLResponse, response_model=None)
async def create_action(request: Request, rt: RuntimeDep, session: SessionDep, viewer: QualityViewer,
                        source_kind: Annotated[str, Form()], finding: Annotated[str, Form()] = "",
                        decision: Annotated[str, Form()] = "", source_id: Annotated[str, Form()] = "",
                        source_ref: Annotated[str, Form()] = "", owner_id: Annotated[str, Form()] = "",
                        due_on: Annotated[str, Form()] = "") -> Response:
    form = {"source_kind": source_kind, "finding": finding, "decision": decision, "source_id": source_id,
            "source_ref": source_ref, "due_on": due_on}
    try:
        async with _committed(session):
            await improvements.create_action(
                session, source_kind=source_kind, finding=finding, decision=decision, now=rt.now(),
                source_id=_row_id(source_id), source_ref=source_ref.strip() or None, owner_id=_row_id(owner_id),
                due_on=_day(due_on), created_by_id=viewer.id)
    except improvements.ActionInvalid as exc:
        response = await _register(request, rt, session, viewer, status_filter=None, source=None, page=1,
                                   form=form, error=str(exc))
        response.status_code = status.HTTP_422_UNPROCESSABLE_CONTENT
        return response
    return _back("/dashboard/quality/ameliorations")


def _row_id(text: str) -> int | None:
    if not text.strip():
        return None
    if not text.strip().isdigit() or not 1 <= int(text) <= MAX_ROW_ID:
        raise improvements.ActionInvalid(f"« {text} » n'est pas un numéro")
    return int(text)


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text.strip() else None
    except ValueError:
        raise improvements.ActionInvalid(f"« {text} » n'est pas une date") from None


@router.post("/ameliorations/{action_id}/statut")
async def change_status(action_id: RowId, rt: RuntimeDep, session: SessionDep, viewer: QualityViewer,
                        new_status: Annotated[str, Form(alias="status")]) -> RedirectResponse:
    try:
        async with _committed(session):
            await improvements.set_status(session, action_id=action_id, status=new_status, now=rt.now())
    except improvements.ActionInvalid as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    return _back("/dashboard/quality/ameliorations")


@router.post("/ameliorations/{action_id}/efficacite")
async def review(action_id: RowId, rt: RuntimeDep, session: SessionDep, viewer: QualityViewer,
                 note: Annotated[str, Form()], effective: Annotated[str, Form()] = "oui") -> RedirectResponse:
    try:
        async with _committed(session):
            await improvements.review_effectiveness(session, action_id=action_id, effective=effective == "oui",
                                                    note=note, now=rt.now())
    except improvements.ActionInvalid as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return _back("/dashboard/quality/ameliorations")


# --- complaints register, testimonials, publication, pack -----------------------------


def _period(rt: RuntimeDep, viewer: Viewer, start: date | None, end: date | None) -> Period:
    today = _today(rt, viewer)
    return Period(start or today - timedelta(days=365), end or today, viewer.timezone)


@router.get("/reclamations", response_class=HTMLResponse)
async def complaints_page(request: Request, rt: RuntimeDep, session: SessionDep, viewer: QualityViewer,
                          start: date | None = None, end: date | None = None, category: str | None = None,
                          page: Page = 1) -> HTMLResponse:
    period = _period(rt, viewer, start, end)
    view = await complaints.complaints_register(session, period=period, category=category or None, page=page)
    return _page(request, "complaints.html", viewer, title="Registre des réclamations", view=view,
                 period=period.label)


@router.get("/temoignages", response_class=HTMLResponse)
async def testimonials_page(request: Request, session: SessionDep, viewer: QualityViewer) -> HTMLResponse:
    return _page(request, "testimonials.html", viewer, title="Témoignages",
                 items=await testimonials.library(session))


@router.post("/temoignages/{testimonial_id}/approuver")
async def approve(testimonial_id: RowId, rt: RuntimeDep, session: SessionDep,
                  viewer: QualityViewer) -> RedirectResponse:
    async with _committed(session):
        if not await testimonials.approve(session, testimonial_id=testimonial_id, trainer_id=viewer.id, now=rt.now()):
            raise HTTPException(status.HTTP_404_NOT_FOUND)
    return _back("/dashboard/quality/temoignages")


@router.get("/temoignages.csv")
async def testimonials_csv(session: SessionDep, viewer: QualityViewer) -> Response:
    return Response(testimonials.export_csv(await testimonials.testimonial_rows(session)),
                    media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="temoignages.csv"'})


@router.get("/temoignages.html")
async def testimonials_snippet(session: SessionDep, viewer: QualityViewer) -> Response:
    rows = await testimonials.testimonial_rows(session, website_only=True, approved_only=True)
    return Response(testimonials.export_html(rows), media_type="text/html; charset=utf-8")


async def _publication(request: Request, rt: RuntimeDep, session: SessionDep, viewer: Viewer,
                       error: str | None = None) -> HTMLResponse:
    labels = public_indicators.indicator_labels()
    return _page(request, "publication.html", viewer, title="Indicateurs publiés", options=list(labels.items()),
                 chosen=set(await public_indicators.chosen_keys(session)),
                 threshold=rt.settings.public_min_respondents, error=error)


@router.get("/publication", response_class=HTMLResponse)
async def publication_page(request: Request, rt: RuntimeDep, session: SessionDep,
                           viewer: QualityViewer) -> HTMLResponse:
    return await _publication(request, rt, session, viewer)


@router.post("/publication", response_class=HTMLResponse, response_model=None)
async def choose_published(request: Request, rt: RuntimeDep, session: SessionDep, viewer: QualityViewer,
                           keys: Annotated[list[str] | None, Form()] = None) -> Response:
    async with _committed(session):
        unknown = await public_indicators.choose(session, keys=keys or [], trainer_id=viewer.id, now=rt.now())
    if unknown:
        return await _publication(request, rt, session, viewer, error=f"indicateur inconnu : {', '.join(unknown)}")
    return _back("/dashboard/quality/publication")


@router.get("/preuves", response_class=HTMLResponse)
async def evidence_page(request: Request, rt: RuntimeDep, viewer: QualityViewer) -> HTMLResponse:
    period = _period(rt, viewer, None, None)
    return _page(request, "evidence.html", viewer, title="Dossier de preuves Qualiopi",
                 start=period.start.isoformat(), end=period.end.isoformat())


@router.get("/preuves.zip")
async def evidence_pack(rt: RuntimeDep, session: SessionDep, viewer: QualityViewer, start: date, end: date,
                        session_id: Annotated[int | None, Query(alias="session", ge=1, le=MAX_ROW_ID)] = None
                        ) -> Response:
    """The same pack as ``ancrage report qualiopi``."""
    if end < start:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "la fin précède le début")
    pack = await build_pack(session, period=Period(start, end, viewer.timezone), now=rt.now(),
                            session_id=session_id, threshold=rt.settings.public_min_respondents)
    name = f"preuves-qualiopi-{start:%Y%m%d}-{end:%Y%m%d}.zip"
    return Response(pack.zip_bytes, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
