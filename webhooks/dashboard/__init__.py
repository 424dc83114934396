"""The trainers' and quality managers' dashboard, mounted at ``/dashboard``.

One router per page (login, overview, sessions, learners, inbox, lists,
exports, the quality manager's registers); ``install`` adds them, the local static files and the two handlers
that turn "not logged in" into a redirect and "not visible" into a 404 page.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from engine.reports.scope import NotVisible
from webhooks.dashboard import exports, inbox, learners, lists, login, overview, quality, sessions
from webhooks.dashboard.auth import LoginRequired
from webhooks.dashboard.render import page, redirect

STATIC = Path(__file__).resolve().parent.parent / "static"
#: The dashboard's route table, one router per page (the cross-trainer test walks it).
ROUTERS = tuple(module.router for module in (login, overview, sessions, learners, inbox, lists, exports,
                                                 quality))


def install(app: FastAPI) -> None:
    for router in ROUTERS:
        app.include_router(router, include_in_schema=False)
    app.mount("/dashboard/static", StaticFiles(directory=STATIC), name="dashboard-static")
    app.add_exception_handler(LoginRequired, _to_login)
    app.add_exception_handler(NotVisible, _not_found)


async def _to_login(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    target = exc.next_path if request.method == "GET" else "/dashboard/"
    return redirect(f"/dashboard/login?next={quote(target)}")


async def _not_found(request: Request, exc: Exception) -> Response:
    viewer = None
    trainer = getattr(request.state, "trainer", None)
    if trainer is not None:
        from engine.reports.scope import Viewer

        viewer = Viewer.of(trainer)
    return page(request, "dashboard/not_found.html", viewer, status_code=404, title="Page introuvable")
