"""Public pages, no login: the published indicators (Qualiopi indicator 2), embeddable on the
organisation's website, as HTML and JSON; and the testimonial consent withdrawal link.
"""

from __future__ import annotations

import time
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from engine.links import InvalidToken
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


def _withdraw_page(request: Request, title: str, body: str, *, form: bool = False,
                   status_code: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(request, "testimonial_withdraw.html",
                                      {"t": {"lang": "fr"}, "title": title, "body": body, "form": form},
                                      status_code=status_code, headers=_PRIVATE)


@router.get("/public/temoignage/retrait/{token}", response_class=HTMLResponse, include_in_schema=False)
async def withdraw_form(request: Request, token: str, rt: RuntimeDep) -> HTMLResponse:
    try:
        learner_from_withdraw_token(rt.settings.secret_key, token, now=rt.now())
    except InvalidToken:
        return _withdraw_page(request, "Lien expiré", "Ce lien n'est plus valable. Répondez simplement à l'un de "
                              "nos messages pour retirer votre accord.", status_code=404)
    return _withdraw_page(request, "Retirer votre témoignage",
                          "Votre témoignage ne sera plus utilisé, nulle part, dès que vous aurez confirmé.", form=True)


@router.post("/public/temoignage/retrait/{token}", response_class=HTMLResponse, include_in_schema=False)
async def withdraw_confirm(request: Request, token: str, rt: RuntimeDep, session: SessionDep) -> HTMLResponse:
    try:
        learner_id = learner_from_withdraw_token(rt.settings.secret_key, token, now=rt.now())
    except InvalidToken:
        return _withdraw_page(request, "Lien expiré", "Ce lien n'est plus valable.", status_code=404)
    async with session.begin():
        await withdraw(session, learner_id=learner_id, now=rt.now())
    return _withdraw_page(request, "C'est fait", "Votre accord est retiré : votre témoignage n'apparaît plus "
                          "dans aucune de nos publications ni aucun de nos exports.")
