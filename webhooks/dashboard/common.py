"""Small things every dashboard route uses: the clock, page numbers from the URL, form fields."""

from __future__ import annotations

from datetime import datetime

from fastapi import Request

from webhooks.deps import runtime_of


def now_of(request: Request) -> datetime:
    return runtime_of(request).now()


def page_number(value: str | None) -> int:
    """A page number from the query string; anything odd is page 1 (never a 500)."""
    try:
        return max(1, min(int(value or "1"), 100_000))
    except ValueError:
        return 1


def field_error(value: str, *, required: bool = True, max_length: int = 1600) -> str | None:
    """The French error to show beside a text field, or None."""
    if required and not value.strip():
        return "Ce champ est obligatoire."
    if len(value) > max_length:
        return "Texte trop long."
    return None
