"""The weekly digest's view model and its rendering (text and HTML parts, French)."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel

_TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                         autoescape=select_autoescape(["html"]), keep_trailing_newline=True)


class DigestAlert(BaseModel):
    when: str
    learner: str
    reason: str


class DigestTicket(BaseModel):
    id: int
    state: str  # "en retard" | "à échéance sous 24 h"
    due: str
    learner: str


class DigestSession(BaseModel):
    id: int
    title: str
    ends: str


class DigestFigure(BaseModel):
    label: str
    value: str
    n: int
    previous: str


class DigestView(BaseModel):
    """Everything one person's Monday e-mail says, scoped to what they may see."""

    trainer_id: int
    name: str
    email: str
    scope_label: str
    week: str
    alerts: list[DigestAlert]
    alerts_total: int
    tickets: list[DigestTicket]
    at_risk: list[str]
    at_risk_total: int
    sessions: list[DigestSession]
    indicators: list[DigestFigure]
    month: str
    previous_month: str
    dashboard_url: str
    stop_url: str


def render_digest(view: DigestView) -> tuple[str, str, str]:
    """(subject, text, html)."""
    subject = f"Votre point du lundi — semaine du {view.week}"
    text = _TEMPLATES.get_template("digest.txt").render(view=view)
    html = _TEMPLATES.get_template("digest.html").render(view=view)
    return subject, text, html
