"""The quality manager's screens: improvement register, complaints register, testimonials
library, public-indicator choice and the Qualiopi pack download.

Behind the dashboard's login (``QualityViewer``: a trainer gets the 404 page, as for anything
they may not see); every form posts its CSRF token (``CheckedForm``). Each route checks the
viewer, calls one use case or read model, renders with the dashboard's layout.
"""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse, Response

from engine.core.indicators import Period
from engine.reports.evidence.pack import build_pack, table_csv
from engine.reports.evidence.tables import SOURCE_LABELS, STATUS_LABELS, improvements_table
from engine.reports.scope import NotVisible, Viewer
from engine.services import complaints, improvements, public_indicators, testimonials
from webhooks.dashboard.auth import CheckedForm, QualityViewer
from webhooks.dashboard.common import now_of, page_number
from webhooks.dashboard.render import page, redirect
from webhooks.deps import SessionDep, state_of
from webhooks.fields import MAX_ROW_ID, RowId

router = APIRouter(prefix="/dashboard/quality")
REGISTER = "/dashboard/quality/ameliorations"
#: The quality pages' own navigation (the dashboard's top bar links to the first one).
SECTIONS = (("/dashboard/quality/ameliorations", "Améliorations"), ("/dashboard/quality/reclamations", "Réclamations"),
            ("/dashboard/quality/temoignages", "Témoignages"), ("/dashboard/quality/publication", "Publication"),
            ("/dashboard/quality/preuves", "Dossier Qualiopi"))
PUBLISH_PREFIX = "pub-"


def _today(request: Request, viewer: Viewer) -> date:
    return now_of(request).astimezone(ZoneInfo(viewer.timezone)).date()


def _quality_page(request: Request, template: str, viewer: Viewer, *, status_code: int = 200,
                  **context: object) -> HTMLResponse:
    return page(request, f"dashboard/quality/{template}", viewer, status_code=status_code, sections=SECTIONS,
                **context)


# --- improvement register -------------------------------------------------------------


async def _register(request: Request, db: SessionDep, viewer: Viewer, *, status_code: int = 200,
                    values: dict[str, str] | None = None, error: str | None = None) -> HTMLResponse:
    params = request.query_params
    status_filter, source = params.get("status") or None, params.get("source") or None
    view = await improvements.register_page(db, today=_today(request, viewer), status=status_filter,
                                            source_kind=source, page=page_number(params.get("page")))
    return _quality_page(request, "improvements.html", viewer, status_code=status_code,
                         title="Registre d'amélioration", view=view, statuses=STATUS_LABELS, sources=SOURCE_LABELS,
                         owners=await improvements.owner_choices(db), values=values or {}, error=error,
                         filters={"status": status_filter or "", "source": source or ""})


@router.get("/ameliorations", response_class=HTMLResponse)
async def register_page(request: Request, viewer: QualityViewer, db: SessionDep) -> Response:
    return await _register(request, db, viewer)


@router.get("/ameliorations.csv")
async def register_csv(viewer: QualityViewer, db: SessionDep) -> Response:
    table = improvements_table(await improvements.action_rows(db))
    return Response(table_csv(table), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="ameliorations.csv"'})


@router.post("/ameliorations", response_class=HTMLResponse)
async def create_action(request: Request, viewer: QualityViewer, form: CheckedForm, db: SessionDep) -> Response:
    try:
        await improvements.create_action(
            db, source_kind=form.get("source_kind", ""), finding=form.get("finding", ""),
            decision=form.get("decision", ""), now=now_of(request), source_id=_row_id(form.get("source_id", "")),
            source_ref=form.get("source_ref", "").strip() or None, owner_id=_row_id(form.get("owner_id", "")),
            due_on=_day(form.get("due_on", "")), created_by_id=viewer.trainer_id)
    except improvements.ActionInvalid as exc:
        return await _register(request, db, viewer, status_code=422, values=form, error=str(exc))
    await db.commit()
    return redirect(REGISTER, "saved")


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


@router.post("/ameliorations/{action_id}/statut", response_class=HTMLResponse)
async def change_status(request: Request, action_id: RowId, viewer: QualityViewer, form: CheckedForm,
                        db: SessionDep) -> Response:
    try:
        await improvements.set_status(db, action_id=action_id, status=form.get("status", ""), now=now_of(request))
    except improvements.ActionInvalid:
        raise NotVisible(action_id) from None
    await db.commit()
    return redirect(REGISTER, "saved")


@router.post("/ameliorations/{action_id}/efficacite", response_class=HTMLResponse)
async def review(request: Request, action_id: RowId, viewer: QualityViewer, form: CheckedForm,
                 db: SessionDep) -> Response:
    try:
        await improvements.review_effectiveness(db, action_id=action_id, effective=form.get("effective") != "non",
                                                note=form.get("note", ""), now=now_of(request))
    except improvements.ActionInvalid as exc:
        return await _register(request, db, viewer, status_code=422, error=str(exc))
    await db.commit()
    return redirect(REGISTER, "saved")


# --- complaints register, testimonials, publication, pack -----------------------------


def _period(request: Request, viewer: Viewer, start: date | None, end: date | None) -> Period:
    today = _today(request, viewer)
    return Period(start or today - timedelta(days=365), end or today, viewer.timezone)


@router.get("/reclamations", response_class=HTMLResponse)
async def complaints_page(request: Request, viewer: QualityViewer, db: SessionDep, start: date | None = None,
                          end: date | None = None, category: str | None = None) -> Response:
    period = _period(request, viewer, start, end)
    view = await complaints.complaints_register(db, period=period, category=category or None,
                                                page=page_number(request.query_params.get("page")))
    return _quality_page(request, "complaints.html", viewer, title="Registre des réclamations", view=view,
                         period=period)


@router.get("/temoignages", response_class=HTMLResponse)
async def testimonials_page(request: Request, viewer: QualityViewer, db: SessionDep) -> Response:
    return _quality_page(request, "testimonials.html", viewer, title="Témoignages",
                         items=await testimonials.library(db))


@router.post("/temoignages/{testimonial_id}/approuver", response_class=HTMLResponse)
async def approve(request: Request, testimonial_id: RowId, viewer: QualityViewer, form: CheckedForm,
                  db: SessionDep) -> Response:
    if not await testimonials.approve(db, testimonial_id=testimonial_id, trainer_id=viewer.trainer_id,
                                      now=now_of(request)):
        raise NotVisible(testimonial_id)
    await db.commit()
    return redirect("/dashboard/quality/temoignages", "saved")


@router.get("/temoignages.csv")
async def testimonials_csv(viewer: QualityViewer, db: SessionDep) -> Response:
    return Response(testimonials.export_csv(await testimonials.testimonial_rows(db)),
                    media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="temoignages.csv"'})


@router.get("/temoignages.html")
async def testimonials_snippet(viewer: QualityViewer, db: SessionDep) -> Response:
    rows = await testimonials.testimonial_rows(db, website_only=True, approved_only=True)
    return Response(testimonials.export_html(rows), media_type="text/html; charset=utf-8")


async def _publication(request: Request, viewer: Viewer, db: SessionDep, *, status_code: int = 200,
                       error: str | None = None) -> HTMLResponse:
    labels = public_indicators.indicator_labels()
    return _quality_page(request, "publication.html", viewer, status_code=status_code,
                         title="Indicateurs publiés", options=list(labels.items()), prefix=PUBLISH_PREFIX,
                         chosen=set(await public_indicators.chosen_keys(db)),
                         threshold=state_of(request).settings.public_min_respondents, error=error)


@router.get("/publication", response_class=HTMLResponse)
async def publication_page(request: Request, viewer: QualityViewer, db: SessionDep) -> Response:
    return await _publication(request, viewer, db)


@router.post("/publication", response_class=HTMLResponse)
async def choose_published(request: Request, viewer: QualityViewer, form: CheckedForm, db: SessionDep) -> Response:
    """One checkbox per indicator, named ``pub-<key>`` (the dashboard's forms carry one value per name)."""
    keys = [name[len(PUBLISH_PREFIX):] for name in form if name.startswith(PUBLISH_PREFIX)]
    unknown = await public_indicators.choose(db, keys=keys, trainer_id=viewer.trainer_id, now=now_of(request))
    if unknown:
        return await _publication(request, viewer, db, status_code=422,
                                  error=f"indicateur inconnu : {', '.join(unknown)}")
    await db.commit()
    return redirect("/dashboard/quality/publication", "saved")


@router.get("/preuves", response_class=HTMLResponse)
async def evidence_page(request: Request, viewer: QualityViewer) -> Response:
    period = _period(request, viewer, None, None)
    return _quality_page(request, "evidence.html", viewer, title="Dossier de preuves Qualiopi",
                         start=period.start.isoformat(), end=period.end.isoformat())


@router.get("/preuves.zip")
async def evidence_pack(request: Request, viewer: QualityViewer, db: SessionDep, start: date, end: date,
                        session: str = "") -> Response:
    """The same pack as ``ancrage report qualiopi`` (``session`` may be left empty: every session)."""
    if end < start:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "la fin précède le début")
    try:
        session_id = _row_id(session)
    except improvements.ActionInvalid as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    pack = await build_pack(db, period=Period(start, end, viewer.timezone), now=now_of(request),
                            session_id=session_id, threshold=state_of(request).settings.public_min_respondents)
    name = f"preuves-qualiopi-{start:%Y%m%d}-{end:%Y%m%d}.zip"
    return Response(pack.zip_bytes, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
