"""Integration API for an LMS or training-management system (``X-Api-Key``).

A key bound to a trainer sees and creates only that trainer's sessions and
learners; an organisation key (no trainer) sees everything. Ending a session
only moves its end to now: the worker's tick enrols attendees (one place
enrols, with the validated catalogue it already holds).
"""

from __future__ import annotations

import asyncio
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.reports.progress import Progress, enrollment_progress, learner_progress
from engine.services.attendees import add_attendees
from engine.services.catalog import Catalog
from engine.services.roster import AmbiguousSession, describe_session, upsert_session
from engine.services.visibility import visible_enrollment, visible_learner, visible_session
from engine.store.models import ApiKey, Attendance, Trainer, TrainingSession
from webhooks.deps import CurrentApiKey, RuntimeDep, SessionDep, StateDep, viewer_of
from webhooks.fields import RowId
from webhooks.integration_models import (
    AttendeeIn,
    AttendeeResult,
    AttendeesOut,
    SessionIn,
    SessionOut,
    check_rows,
)

router = APIRouter(prefix="/api/v1", tags=["integration"])

MAX_ATTENDEES = 1000
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "unknown, or not visible with this key"}}


@lru_cache(maxsize=4)
def _valid_campaigns(campaigns_dir: Path, content_dir: Path) -> frozenset[str]:
    return frozenset(Catalog.load(campaigns_dir, content_dir).campaigns)


async def _campaign_names(state: StateDep) -> frozenset[str]:
    if state.campaign_names is None:
        settings = state.settings
        state.campaign_names = await asyncio.to_thread(
            _valid_campaigns, settings.campaigns_dir, settings.content_dir)
    return state.campaign_names


async def _visible_session(session: AsyncSession, key: ApiKey, session_id: int) -> TrainingSession:
    training = await visible_session(session, viewer_of(key), session_id)
    if training is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such session")
    return training


async def _trainer_for(session: AsyncSession, key: ApiKey, email: str | None) -> int | None:
    """The trainer a session is for; a trainer's key may name only itself (whoever else exists)."""
    if email is None:
        return key.trainer_id
    email = email.strip().lower()
    if key.trainer_id is not None:
        own = await session.get(Trainer, key.trainer_id)
        if own is None or own.email.lower() != email:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "this key may only use its own trainer")
        return key.trainer_id
    trainer = (await session.exec(select(Trainer).where(
        func.lower(col(Trainer.email)) == email))).first()
    if trainer is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"unknown trainer '{email}'")
    return trainer.id


@router.post("/sessions", response_model=SessionOut, status_code=200,
             responses={201: {"model": SessionOut, "description": "created"},
                        403: {"description": "a trainer's key naming another trainer"}})
async def put_session(data: SessionIn, key: CurrentApiKey, session: SessionDep,
                      state: StateDep, response: Response) -> SessionOut:
    """Create or update the session with this ``external_id`` (201 when created).

    External ids are numbered per trainer: a trainer's key only ever finds its
    own sessions, and an id used by another trainer is free for it.
    """
    unknown = sorted(set(data.campaigns) - await _campaign_names(state))
    if unknown:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"unknown or invalid campaign(s): {', '.join(unknown)}")
    trainer_id = await _trainer_for(session, key, data.trainer_email)
    organisation = key.trainer_id is None
    try:
        try:
            training, created = await upsert_session(session, data=data, trainer_id=trainer_id,
                                                     organisation=organisation)
            await session.commit()
        except IntegrityError:  # a concurrent call created it first: it is the same session
            await session.rollback()
            training, created = await upsert_session(session, data=data, trainer_id=trainer_id,
                                                     organisation=organisation)
            await session.commit()
    except AmbiguousSession:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "several trainers have a session with this external_id: "
                            "give trainer_email") from None
    if created:
        response.status_code = status.HTTP_201_CREATED
    return await describe_session(session, training, created=created)


@router.get("/sessions/{session_id}", response_model=SessionOut, responses=_NOT_FOUND)
async def get_session(session_id: RowId, key: CurrentApiKey, session: SessionDep) -> SessionOut:
    return await describe_session(session, await _visible_session(session, key, session_id))


@router.post("/sessions/{session_id}/attendees", response_model=AttendeesOut,
             responses={422: {"description": "row errors; nothing was imported"}, **_NOT_FOUND})
async def post_attendees(
    session_id: RowId, rows: Annotated[list[AttendeeIn], Body(max_length=MAX_ATTENDEES)],
    key: CurrentApiKey, session: SessionDep, rt: RuntimeDep,
) -> AttendeesOut | JSONResponse:
    """Add attendees (all or nothing): every bad row is reported with its number."""
    training = await _visible_session(session, key, session_id)
    learners, errors = check_rows(rows, region=rt.settings.default_region,
                                  default_timezone=training.timezone)
    if errors:
        return JSONResponse(status_code=422, content={
            "detail": [{"loc": ["body", e.row - 1, *([e.field] if e.field else [])],
                        "msg": e.message, "type": "value_error"} for e in errors],
            "summary": f"{len(errors)} problem(s) in {len({e.row for e in errors})} row(s); "
                       "nothing was imported",
            "errors": [e.model_dump() for e in errors]})
    try:
        added = await add_attendees(session, training=training, learners=learners,
                                    now=rt.now(), consent=rt.settings.consent_defaults)
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise HTTPException(status.HTTP_409_CONFLICT,
                            "concurrent import of the same attendees; retry") from None
    total = len((await session.exec(select(Attendance.id).where(
        col(Attendance.session_id) == session_id))).all())
    results = [AttendeeResult(row=a.row, learner_id=a.learner.id or 0, created=a.created)
               for a in added]
    return AttendeesOut(session_id=session_id, attendees=results, total_attendees=total)


@router.post("/sessions/{session_id}/end", response_model=SessionOut, responses=_NOT_FOUND)
async def end_session_now(session_id: RowId, key: CurrentApiKey, session: SessionDep,
                          rt: RuntimeDep) -> SessionOut:
    """The session ended now (early): the next worker tick enrols its attendees."""
    training = await _visible_session(session, key, session_id)
    now = rt.now()
    if training.ends_at > now:
        training.ends_at = max(now, training.starts_at)
        session.add(training)
        await session.commit()
    return await describe_session(session, training)


@router.get("/learners/{learner_id}/progress", response_model=Progress, responses=_NOT_FOUND)
async def get_learner_progress(learner_id: RowId, key: CurrentApiKey, session: SessionDep,
                               rt: RuntimeDep) -> Progress:
    viewer = viewer_of(key)
    if await visible_learner(session, viewer, learner_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such learner")
    return await learner_progress(session, learner_id=learner_id, now=rt.now(), viewer=viewer)


@router.get("/enrollments/{enrollment_id}/progress", response_model=Progress,
            responses=_NOT_FOUND)
async def get_enrollment_progress(enrollment_id: RowId, key: CurrentApiKey, session: SessionDep,
                                  rt: RuntimeDep) -> Progress:
    enrollment = await visible_enrollment(session, viewer_of(key), enrollment_id)
    if enrollment is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such enrolment")
    return await enrollment_progress(session, learner_id=enrollment.learner_id,
                                     enrollment_id=enrollment_id, now=rt.now())
