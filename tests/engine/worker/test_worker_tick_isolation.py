"""One bad session must not stop every send: each step of the tick stands alone.

A session naming a campaign the catalog lacks (its file has an error, or was
renamed, and the worker restarted) used to raise in the tick's first step, every
second, before claims, requeues, recovery and expiry ran: nothing was sent to
anyone. Now the session is flagged once (its ``problem``, one alert for the
quality manager, one log line) and everything else goes on.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlmodel import col, select

from engine.services.scheduler import SESSION_PROBLEM, run_step
from engine.store.models import Alert, TrainingSession
from tests.support.engine_harness import HandClock
from tests.support.sessions import add_session
from tests.support.worker_harness import (
    Providers,
    drain,
    driver,
    idle,
    live_settings,
    load_catalog,
    running_worker,
    wait_for,
)
from tests.support.worker_scenarios import START, phone, write_open_campaign


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
async def test_a_session_naming_a_missing_campaign_is_flagged_once_and_others_are_sent(
        store_url: str, tmp_path: Path, providers: Providers, caplog: pytest.LogCaptureFixture) -> None:
    write_open_campaign(tmp_path / "campaigns", channels="[sms]")
    clock = HandClock(START)
    settings = live_settings(store_url, "redis://127.0.0.1:6379/0", tmp_path, providers, tmp_path / "campaigns")
    caplog.set_level(logging.INFO, logger="ancrage.scheduler")
    async with driver(settings, clock) as drv:
        await add_session(drv, learners=[{"first_name": "Bad", "last_name": "B", "phone": phone(9)}],
                          campaigns=["renamed"], ends_at=START)
        await add_session(drv, learners=[{"first_name": "Ana", "last_name": "A", "phone": phone(1)}],
                          campaigns=["open"], ends_at=START)
        first = await drv.tick()
        assert (first.sessions_ended, first.enrolled) == (1, 1)
        clock.advance(minutes=10)
        for _ in range(3):  # the bad session is seen at every tick
            await drv.tick()
            clock.advance(seconds=1)
        async with running_worker(settings, clock) as worker:
            await drain(drv)
            await wait_for(lambda: idle(worker), timeout=10, what="the worker's jobs to finish")
        deliveries = await drv.deliveries()
        async with drv.rt.sessions() as session:
            bad = (await session.exec(select(TrainingSession).where(
                col(TrainingSession.campaign_names) == ["renamed"]))).one()  # type: ignore[arg-type]
            alerts = (await session.exec(select(Alert))).all()

    assert [d.status for d in deliveries] == ["sent"]
    assert [m["to"] for m in providers.twilio.messages] == [phone(1)]
    assert bad.ended_processed_at is None and bad.problem is not None
    assert "« renamed » introuvable" in bad.problem
    assert [(a.kind, a.session_id, a.learner_id, a.reason) for a in alerts] == [
        (SESSION_PROBLEM, bad.id, None, bad.problem)]
    flagged = [r for r in caplog.records if r.name == "ancrage.scheduler" and f"session {bad.id}" in r.getMessage()]
    assert len(flagged) == 1, [r.getMessage() for r in flagged]


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
async def test_the_session_starts_by_itself_once_its_campaign_is_back(store_url: str, tmp_path: Path,
                                                                     providers: Providers) -> None:
    write_open_campaign(tmp_path / "campaigns", channels="[sms]")
    clock = HandClock(START)
    settings = live_settings(store_url, "redis://127.0.0.1:6379/0", tmp_path, providers, tmp_path / "campaigns")
    async with driver(settings, clock) as drv:
        _, [learner] = await add_session(drv, learners=[{"first_name": "Ana", "last_name": "A", "phone": phone(1)}],
                                         campaigns=["later"], ends_at=START)
        assert (await drv.tick()).sessions_ended == 0
        write_open_campaign(tmp_path / "campaigns", name="later", channels="[sms]")
        drv.catalog = load_catalog(settings)  # the worker restarted with the fixed file
        clock.advance(minutes=1)
        report = await drv.tick()
        async with drv.rt.sessions() as session:
            training = (await session.exec(select(TrainingSession))).one()
    assert (report.sessions_ended, report.enrolled) == (1, 1)
    assert training.problem is None and training.ended_processed_at is not None
    assert learner.id is not None


async def test_a_failing_step_is_logged_once_until_it_works_again(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="ancrage.scheduler")
    failures = [RuntimeError("database away")] * 3

    async def step() -> int:
        if failures:
            raise failures.pop()
        return 7

    results = [await run_step("test-step", step, 0) for _ in range(5)]
    assert results == [0, 0, 0, 7, 7]
    messages = [r.getMessage() for r in caplog.records if "test-step" in r.getMessage()]
    assert len(messages) == 2 and "failed" in messages[0] and "works again" in messages[1]
