"""Who is asking: the signed session cookie, the CSRF token of every form, and ``CurrentViewer``.

The session cookie carries the trainer id and a stamp of their password hash
(a new password logs every other browser out); it is HttpOnly, SameSite=Lax,
and Secure when the public URL is https. Every form posts a ``csrf`` field
equal to the (HttpOnly) CSRF cookie; a POST without it is a 403.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Response, status
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from engine.reports.scope import NotVisible, Viewer
from engine.services.accounts import password_stamp
from engine.settings import Settings
from engine.store.models import Trainer
from webhooks.deps import SessionDep, state_of
from webhooks.intake import parse_form, read_body

SESSION_COOKIE = "ancrage_dashboard"
CSRF_COOKIE = "ancrage_csrf"
SESSION_MAX_AGE = 12 * 3600
_SALT = "ancrage.dashboard-session"


class LoginRequired(Exception):
    """Raised by ``CurrentViewer``; the app turns it into a redirect to the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt=_SALT)


def secure_cookies(settings: Settings) -> bool:
    return settings.public_url.lower().startswith("https://")


def start_session(response: Response, settings: Settings, trainer: Trainer) -> None:
    value = _serializer(settings).dumps({"t": trainer.id, "s": password_stamp(trainer)})
    response.set_cookie(SESSION_COOKIE, value, max_age=SESSION_MAX_AGE, httponly=True, samesite="lax",
                        secure=secure_cookies(settings), path="/dashboard")


def end_session(response: Response, settings: Settings) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/dashboard", httponly=True, samesite="lax",
                           secure=secure_cookies(settings))


async def current_trainer(request: Request, db: SessionDep) -> Trainer:
    settings = state_of(request).settings
    raw = request.cookies.get(SESSION_COOKIE)
    data: object = None
    if raw:
        try:
            data = _serializer(settings).loads(raw, max_age=SESSION_MAX_AGE)
        except (BadSignature, SignatureExpired):
            data = None
    trainer_id = data.get("t") if isinstance(data, dict) else None
    trainer = await db.get(Trainer, trainer_id) if isinstance(trainer_id, int) else None
    if (trainer is None or trainer.disabled_at is not None or not isinstance(data, dict)
            or data.get("s") != password_stamp(trainer)):
        raise LoginRequired(request.url.path)
    request.state.trainer = trainer
    return trainer


async def current_viewer(trainer: Annotated[Trainer, Depends(current_trainer)]) -> Viewer:
    return Viewer.of(trainer)


CurrentTrainer = Annotated[Trainer, Depends(current_trainer)]
CurrentViewer = Annotated[Viewer, Depends(current_viewer)]


async def require_quality(viewer: CurrentViewer) -> Viewer:
    """Quality-manager pages are a 404 to trainers, like anything else they may not see."""
    if not viewer.sees_everything:
        raise NotVisible(viewer.trainer_id)
    return viewer


QualityViewer = Annotated[Viewer, Depends(require_quality)]

# --- CSRF ---------------------------------------------------------------------------


def csrf_token(request: Request) -> str:
    """The token forms must post back; set as a cookie by ``ensure_csrf_cookie`` if new."""
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not token:
        token = secrets.token_urlsafe(32)
        request.state.new_csrf = token
    return str(token)


def ensure_csrf_cookie(request: Request, response: Response) -> None:
    new = getattr(request.state, "new_csrf", None)
    if new and not request.cookies.get(CSRF_COOKIE):
        response.set_cookie(CSRF_COOKIE, new, httponly=True, samesite="lax", path="/dashboard",
                            secure=secure_cookies(state_of(request).settings))


async def checked_form(request: Request) -> dict[str, str]:
    """The posted form, after its CSRF token matched the cookie (403 otherwise)."""
    form = parse_form(await read_body(request), request.headers.get("content-type"))
    cookie = request.cookies.get(CSRF_COOKIE, "")
    given = form.pop("csrf", "")
    if not cookie or not given or not hmac.compare_digest(cookie, given):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong CSRF token")
    return form


CheckedForm = Annotated[dict[str, str], Depends(checked_form)]
