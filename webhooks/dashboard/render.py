"""Rendering dashboard pages: one Jinja2 environment, French formats (babel) in the viewer's zone.

Templates only format: numbers, percentages and dates go through the filters
below so that every page shows ``12,5 %`` and ``4 mars 2025 à 10:30`` the same way.
Texts are written in French in the templates; ``_()`` gives the English for
viewers whose locale is ``en``.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, format_percent
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from engine.reports.scope import Viewer
from webhooks.dashboard.auth import csrf_token, ensure_csrf_cookie
from webhooks.dashboard.texts import ENGLISH, LABELS, REASONS

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY",
           "X-Content-Type-Options": "nosniff",
           "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
                                      "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"}


class Formats:
    """The viewer's formatting functions (babel locale + time zone)."""

    def __init__(self, locale: str, timezone: str) -> None:
        self.lang = "en" if locale.startswith("en") else "fr"
        self.babel = "en_GB" if self.lang == "en" else "fr_FR"
        self.zone = ZoneInfo(timezone)

    def _(self, text: str) -> str:
        return ENGLISH.get(text, text) if self.lang == "en" else text

    def label(self, code: str | None) -> str:
        if code is None:
            return "—"
        entry = LABELS.get(code)
        if entry is None:
            return code.replace("_", " ")
        return entry[1] if self.lang == "en" else entry[0]

    def reason(self, text: str | None) -> str:
        """A stored failure or skip reason in the viewer's language (French texts are kept)."""
        if not text:
            return ""
        lowered = text.lower()
        for prefix, french, english in REASONS:
            if lowered.startswith(prefix) or prefix in lowered.split(":", 1)[0]:
                return english if self.lang == "en" else french
        if lowered.isascii() and " " not in lowered and text in LABELS:
            return self.label(text)
        return text if not lowered.isascii() else (self._("autre raison") + f" ({text})")

    def num(self, value: float | int | None, digits: int = 1) -> str:
        if value is None:
            return "—"
        return format_decimal(value, format=f"#,##0.{'0' * digits}" if digits else "#,##0", locale=self.babel)

    def pct(self, value: float | None) -> str:
        return "—" if value is None else format_percent(value, format="#,##0 %", locale=self.babel)

    def dt(self, value: datetime | None, style: str = "medium") -> str:
        if value is None:
            return "—"
        pattern = "d MMM yyyy HH:mm" if style == "medium" else "d MMM HH:mm"
        return format_datetime(value, pattern, tzinfo=self.zone, locale=self.babel)

    def d(self, value: date | datetime | None, pattern: str = "d MMM yyyy") -> str:
        if value is None:
            return "—"
        if isinstance(value, datetime):
            value = value.astimezone(self.zone).date()
        return format_date(value, pattern, locale=self.babel)

    def hours(self, value: float | None) -> str:
        if value is None:
            return "—"
        if value < 0:
            return self._("en retard de") + f" {self.num(-value, 0)} h"
        return f"{self.num(value, 0)} h"


def formats_for(viewer: Viewer | None, request: Request) -> Formats:
    if viewer is not None:
        return Formats(viewer.locale, viewer.timezone)
    header = (request.headers.get("accept-language") or "fr").lower()
    return Formats("en" if header.startswith("en") else "fr", "Europe/Paris")


def page(request: Request, template: str, viewer: Viewer | None, *, status_code: int = 200,
         **context: Any) -> HTMLResponse:
    fmt = formats_for(viewer, request)
    context.update(viewer=viewer, f=fmt, _=fmt._, csrf=csrf_token(request), path=request.url.path,
                   notice=request.query_params.get("ok"), query=dict(request.query_params))
    response = TEMPLATES.TemplateResponse(request, template, context, status_code=status_code, headers=HEADERS)
    ensure_csrf_cookie(request, response)
    return response


def redirect(url: str, notice: str | None = None) -> RedirectResponse:
    """POST → redirect → GET, with an optional notice key shown on the next page."""
    if notice:
        url += ("&" if "?" in url else "?") + f"ok={notice}"
    return RedirectResponse(url, status_code=303)
