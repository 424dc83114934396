"""Public pages, no login: the published indicators (Qualiopi indicator 2), embeddable on the
organisation's website, as HTML and JSON; and the testimonial consent withdrawal link.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from engine.links import InvalidToken
from engine.services.digests import stop_digest, trainer_from_stop_token
from engine.services.public_indicators import PublicIndicators, public_indicators
from engine.services.testimonials import learner_from_withdraw_token, withdraw
from webhooks.deps import RuntimeDep, SessionDep, StateDep

router = APIRouter(tags=["public"])
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
CACHE_SECONDS = 300
_EMBEDDABLE = {"Cache-Control": f"public, max-age={CACHE_SECONDS}", "X-Content-Type-Options": "nosniff",
               "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors *",
               "Access-Control-Allow-Origin": "*"}
_PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"}


async def _view(state: StateDep, rt: RuntimeDep, session: SessionDep) -> PublicIndicators:
    """Computed at most every few minutes per process: the page may be embedded on a busy site."""
    cached = state.extras.get("public_indicators")
    if isinstance(cached, tuple) and time.monotonic() - cached[0] < CACHE_SECONDS:
        view: PublicIndicators = cached[1]
        return view
    view = await public_indicators(session, now=rt.now(), threshold=rt.settings.public_min_respondents,
                                   timezone=rt.settings.default_timezone)
    state.extras["public_indicators"] = (time.monotonic(), view)
    return view


@router.get("/public/indicateurs.json", response_model=PublicIndicators)
async def indicators_json(state: StateDep, rt: RuntimeDep, session: SessionDep) -> PublicIndicators:
    """The published figures, each with its period and n (never under the threshold)."""
    return await _view(state, rt, session)


@router.get("/public/indicateurs", response_class=HTMLResponse, include_in_schema=False)
async def indicators_page(request: Request, state: StateDep, rt: RuntimeDep, session: SessionDep) -> HTMLResponse:
    view = await _view(state, rt, session)
    updated = view.computed_at.astimezone(ZoneInfo(rt.settings.default_timezone)).strftime("%d/%m/%Y")
    return templates.TemplateResponse(request, "public_indicators.html", {"view": view, "updated": updated},
                                      headers=_EMBEDDABLE)


def _confirm_page(request: Request, title: str, body: str, *, form: bool = False, status_code: int = 200,
                   button: str = "Retirer mon accord") -> HTMLResponse:
    return templates.TemplateResponse(request, "confirm_stop.html",
                                      {"t": {"lang": "fr"}, "title": title, "body": body, "form": form,
                                       "button": button},
                                      status_code=status_code, headers=_PRIVATE)


def _holder(read: Callable[..., int], rt: RuntimeDep, token: str) -> int | None:
    """Whom a signed link was made for, or None when it is forged or expired."""
    try:
        return read(rt.settings.secret_key, token, now=rt.now())
    except InvalidToken:
        return None


def _expired(request: Request) -> HTMLResponse:
    return _confirm_page(request, "Lien expiré", "Ce lien n'est plus valable. Répondez simplement à l'un de nos "
                         "messages.", status_code=404)


@router.get("/public/temoignage/retrait/{token}", response_class=HTMLResponse, include_in_schema=False)
async def withdraw_form(request: Request, token: str, rt: RuntimeDep) -> HTMLResponse:
    if _holder(learner_from_withdraw_token, rt, token) is None:
        return _expired(request)
    return _confirm_page(request, "Retirer votre témoignage",
                         "Votre témoignage ne sera plus utilisé, nulle part, dès que vous aurez confirmé.", form=True)


@router.post("/public/temoignage/retrait/{token}", response_class=HTMLResponse, include_in_schema=False)
async def withdraw_confirm(request: Request, token: str, rt: RuntimeDep, session: SessionDep) -> HTMLResponse:
    learner_id = _holder(learner_from_withdraw_token, rt, token)
    if learner_id is None:
        return _expired(request)
    async with session.begin():
        await withdraw(session, learner_id=learner_id, now=rt.now())
    return _confirm_page(request, "C'est fait", "Votre accord est retiré : votre témoignage n'apparaît plus "
                         "dans aucune de nos publications ni aucun de nos exports.")


@router.get("/public/digest/arret/{token}", response_class=HTMLResponse, include_in_schema=False)
async def digest_stop_form(request: Request, token: str, rt: RuntimeDep) -> HTMLResponse:
    if _holder(trainer_from_stop_token, rt, token) is None:
        return _expired(request)
    return _confirm_page(request, "Point hebdomadaire", "Ne plus recevoir le point du lundi par e-mail ?",
                         form=True, button="Ne plus le recevoir")


@router.post("/public/digest/arret/{token}", response_class=HTMLResponse, include_in_schema=False)
async def digest_stop(request: Request, token: str, rt: RuntimeDep, session: SessionDep) -> HTMLResponse:
    """Also the RFC 8058 one-click target (``List-Unsubscribe-Post``) mail clients POST to."""
    trainer_id = _holder(trainer_from_stop_token, rt, token)
    if trainer_id is None:
        return _expired(request)
    async with session.begin():
        await stop_digest(session, trainer_id=trainer_id)
    return _confirm_page(request, "C'est fait", "Vous ne recevrez plus le point du lundi. Vous pouvez le "
                         "réactiver depuis votre compte dans le tableau de bord.")
