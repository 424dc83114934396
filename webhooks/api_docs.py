"""``/docs`` served offline: Swagger UI from a vendored copy (npm ``swagger-ui-dist`` 5.35.0,
``webhooks/static/swagger-ui/``, Apache-2.0) instead of a CDN, so the page works with no internet.

The validator badge is switched off (it would call validator.swagger.io). The page's one inline
script (Swagger UI's start-up) is allowed by its hash, in the page's own CSP.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from webhooks.security_headers import CONTENT_SECURITY_POLICY

ASSETS = Path(__file__).resolve().parent / "static" / "swagger-ui"
PREFIX = "/docs/assets"
_INLINE = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _allowing_inline_scripts(page: HTMLResponse) -> HTMLResponse:
    """The strict CSP, plus the hash of each inline script the page carries and fetches from this host
    (Swagger UI reads ``/openapi.json``)."""
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
                      for body in _INLINE.findall(bytes(page.body).decode()))
    page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.replace(
        "script-src 'self'", f"script-src 'self' {hashes}") + "; connect-src 'self'"
    return page


def install(app: FastAPI) -> None:
    """Mounts the assets and a ``/docs`` page that uses them (create the app with ``docs_url=None``)."""
    app.mount(PREFIX, StaticFiles(directory=ASSETS), name="docs-assets")

    async def docs() -> HTMLResponse:
        return _allowing_inline_scripts(get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} — API",
                                   swagger_js_url=f"{PREFIX}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{PREFIX}/swagger-ui.css",
                                   swagger_favicon_url=f"{PREFIX}/favicon-32x32.png",
                                   swagger_ui_parameters={"validatorUrl": None}))

    app.add_api_route("/docs", docs, include_in_schema=False, response_class=HTMLResponse)
