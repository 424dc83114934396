"""``/docs`` served offline: Swagger UI from a vendored copy (npm ``swagger-ui-dist`` 5.35.0,
``webhooks/static/swagger-ui/``, Apache-2.0) instead of a CDN, so the page works with no internet.

The validator badge is switched off (it would call validator.swagger.io).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(__file__).resolve().parent / "static" / "swagger-ui"
PREFIX = "/docs/assets"


def install(app: FastAPI) -> None:
    """Mounts the assets and a ``/docs`` page that uses them (create the app with ``docs_url=None``)."""
    app.mount(PREFIX, StaticFiles(directory=ASSETS), name="docs-assets")

    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} — API",
                                   swagger_js_url=f"{PREFIX}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{PREFIX}/swagger-ui.css",
                                   swagger_favicon_url=f"{PREFIX}/favicon-32x32.png",
                                   swagger_ui_parameters={"validatorUrl": None})

    app.add_api_route("/docs", docs, include_in_schema=False, response_class=HTMLResponse)
