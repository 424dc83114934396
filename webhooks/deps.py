"""What routes depend on: the app's state, database sessions, and the two kinds of callers.

Integrations authenticate with an API key (``X-Api-Key``; only its sha256 is
stored); the learner app with a signed bearer token carrying the learner id.
Both are checked here so that routes only declare ``CurrentApiKey`` or
``CurrentLearner``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated

from arq.connections import ArqRedis
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.links import InvalidToken, sign, verify
from engine.services.accounts import create_api_key, hash_api_key
from engine.services.runtime import Runtime
from engine.services.visibility import Viewer
from engine.settings import Settings
from engine.store.models import ApiKey, Learner
from webhooks.fields import MAX_ROW_ID, RowId, row_id
from webhooks.inbound_writer import InboundWriter
from webhooks.queue import Enqueue, discard
from webhooks.status_writer import StatusWriter

__all__ = ["MAX_ROW_ID", "RowId", "create_api_key", "hash_api_key"]

APP_TOKEN_PURPOSE = "app"
APP_TOKEN_VALIDITY = timedelta(days=180)


@dataclass
class AppState:
    """Per-app handles; filled by ``create_app`` and completed by the lifespan."""

    settings: Settings
    runtime: Runtime | None = None
    enqueue: Enqueue = discard
    redis: ArqRedis | None = None
    campaign_names: frozenset[str] | None = None
    writer: InboundWriter | None = None
    statuses: StatusWriter | None = None
    extras: dict[str, object] = field(default_factory=dict)


# Dependencies are ``async def`` on purpose: FastAPI runs plain ``def`` ones in a
# thread pool, a thread hop per dependency per request.


async def app_state(request: Request) -> AppState:
    return state_of(request)


def state_of(request: Request) -> AppState:
    state: AppState = request.app.state.ancrage
    return state


async def runtime_dep(request: Request) -> Runtime:
    return runtime_of(request)


def runtime_of(request: Request) -> Runtime:
    """The runtime, or 503 while the app is still starting (never an AttributeError)."""
    rt = state_of(request).runtime
    if rt is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "starting up")
    return rt


def inbound_writer(request: Request) -> InboundWriter:
    """The app's group-commit writer for raw inbound events (one per database engine)."""
    state, rt = state_of(request), runtime_of(request)
    if state.writer is None:
        state.writer = InboundWriter(rt.engine)
    return state.writer


def status_writer(request: Request) -> StatusWriter:
    """The app's group-commit writer for delivery status callbacks (one per runtime)."""
    state, rt = state_of(request), runtime_of(request)
    if state.statuses is None:
        state.statuses = StatusWriter(rt)
    return state.statuses


async def settings_of(request: Request) -> Settings:
    return state_of(request).settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request; uncommitted work is rolled back when it ends."""
    async with runtime_of(request).sessions() as session:
        yield session


StateDep = Annotated[AppState, Depends(app_state)]
RuntimeDep = Annotated[Runtime, Depends(runtime_dep)]
SettingsDep = Annotated[Settings, Depends(settings_of)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]

# --- integrations: API keys ---------------------------------------------------

_api_key_header = APIKeyHeader(name="X-Api-Key", auto_error=False,
                               description="Integration key issued by `create_api_key`.")


async def current_api_key(
    session: SessionDep, key: Annotated[str | None, Depends(_api_key_header)]
) -> ApiKey:
    if not key:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing X-Api-Key header")
    row = (await session.exec(select(ApiKey).where(
        col(ApiKey.key_hash) == hash_api_key(key), col(ApiKey.revoked_at).is_(None)))).first()
    if row is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown or revoked API key")
    return row


CurrentApiKey = Annotated[ApiKey, Depends(current_api_key)]


def viewer_of(key: ApiKey) -> Viewer:
    """What a key may see: its trainer's sessions, or everything for an organisation key."""
    return Viewer(trainer_id=key.trainer_id)

# --- the learner app: signed bearer tokens --------------------------------------

_bearer = HTTPBearer(auto_error=False, description="Learner token from `issue_app_token`.")


def issue_app_token(settings: Settings, learner_id: int, now: datetime,
                    validity: timedelta = APP_TOKEN_VALIDITY) -> str:
    """The bearer token the learner app stores after sign-in (signed, expiring)."""
    return sign(settings.secret_key, purpose=APP_TOKEN_PURPOSE, data={"l": learner_id},
                expires_at=now + validity)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail,
                         headers={"WWW-Authenticate": "Bearer"})


async def current_learner(
    rt: RuntimeDep, session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Learner:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("missing bearer token")
    try:
        data = verify(rt.settings.secret_key, credentials.credentials, purpose=APP_TOKEN_PURPOSE,
                      now=rt.now())
    except InvalidToken as exc:
        raise _unauthorized(str(exc)) from None
    learner_id = row_id(data.get("l"))
    if learner_id is None:
        raise _unauthorized("malformed token")
    learner = await session.get(Learner, learner_id)
    if learner is None or learner.erased_at is not None:
        raise _unauthorized("unknown learner")
    return learner


CurrentLearner = Annotated[Learner, Depends(current_learner)]
