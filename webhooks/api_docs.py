"""``/docs`` served offline: Swagger UI from a vendored copy (npm ``swagger-ui-dist`` 5.35.0,
``webhooks/static/swagger-ui/``, Apache-2.0) instead of a CDN, so the page works with no internet.

The validator badge is switched off (it would call validator.swagger.io); the page starts
Swagger UI from ``init.js``, since the CSP allows no inline script.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from webhooks.security_headers import CONTENT_SECURITY_POLICY

ASSETS = Path(__file__).resolve().parent / "static" / "swagger-ui"
PREFIX = "/docs/assets"
#: The pages' policy, plus fetching the OpenAPI document from this host.
DOCS_POLICY = CONTENT_SECURITY_POLICY + "; connect-src 'self'"


def install(app: FastAPI) -> None:
    """Mounts the assets and a ``/docs`` page that uses them (create the app with ``docs_url=None``)."""
    app.mount(PREFIX, StaticFiles(directory=ASSETS), name="docs-assets")

    async def docs() -> HTMLResponse:
        # Our own page rather than FastAPI's get_swagger_ui_html: that one starts Swagger UI with an
        # inline script, which the pages' Content-Security-Policy (script-src 'self') refuses.
        openapi = escape(app.openapi_url or "/openapi.json")
        return HTMLResponse(f"""<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>{escape(app.title)} — API</title>
<link rel="icon" href="{PREFIX}/favicon-32x32.png"><link rel="stylesheet" href="{PREFIX}/swagger-ui.css">
</head><body><div id="swagger-ui" data-openapi="{openapi}"></div>
<script src="{PREFIX}/swagger-ui-bundle.js"></script><script src="{PREFIX}/init.js"></script>
</body></html>""", headers={"content-security-policy": DOCS_POLICY})

    app.add_api_route("/docs", docs, include_in_schema=False, response_class=HTMLResponse)
