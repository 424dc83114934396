"""The OpenAPI page and the vendored static files, served from this process only.

FastAPI's default ``/docs`` loads Swagger UI from a CDN, so it is blank on a
machine without internet. Swagger UI and htmx are vendored (fetched from the
npm registry, licences beside them) under ``webhooks/static/vendor`` and
served from ``/static``; ``/docs`` points at those copies.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent / "static"
SWAGGER_UI = "/static/vendor/swagger-ui"

router = APIRouter(include_in_schema=False)


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI for the OpenAPI description, with its script and styles from ``/static``."""
    app = request.app
    return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} — API",
                               swagger_js_url=f"{SWAGGER_UI}/swagger-ui-bundle.js",
                               swagger_css_url=f"{SWAGGER_UI}/swagger-ui.css",
                               swagger_favicon_url=f"{SWAGGER_UI}/favicon-32x32.png")


def mount_static(app: FastAPI) -> None:
    """``/static`` (vendored scripts and styles) and the offline ``/docs`` page."""
    if not any(getattr(route, "path", None) == "/static" for route in app.routes):
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(router)
