"""``ancrage run`` / ``worker`` log one INFO line per tick with counts, never a phone number or a text."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from engine.worker import process_inbound_job, tick_job
from tests.support.engine_harness import HandClock, write_campaign
from tests.support.worker_harness import (
    Providers,
    add_session_from_csv,
    drain,
    driver,
    live_settings,
    redis_server,
    running_worker,
)

PARIS = ZoneInfo("Europe/Paris")
SESSION_END = datetime(2026, 3, 30, 10, 0, tzinfo=PARIS)  # a Monday
CAMPAIGN = """
campaign: tick-log
title: Suivi
defaults:
  channels: [sms]
  window: {days: [mon, tue, wed, thu, fri], from: "09:00", to: "18:00"}
steps:
  - id: welcome
    at: +1h
    message: "Bonjour {{ learner.first_name }}, un secret bien gardé."
"""
CSV = "prénom;nom;téléphone\nCamille;Martin;06 12 34 56 78\nYanis;Benali;06 98 76 54 32\n"


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
async def test_one_info_line_per_tick_with_counts_and_no_personal_data(
        store_url: str, tmp_path: Path, providers: Providers, caplog: pytest.LogCaptureFixture) -> None:
    write_campaign(tmp_path / "campaigns", CAMPAIGN)
    clock = HandClock(SESSION_END - timedelta(minutes=1))
    caplog.set_level(logging.INFO)
    with redis_server("private") as redis_url:
        settings = live_settings(store_url, redis_url, tmp_path, providers, tmp_path / "campaigns")
        async with driver(settings, clock) as drv, running_worker(settings, clock) as worker:
            await add_session_from_csv(drv.rt, CSV, campaign="tick-log", ends_at=SESSION_END)
            clock.set(SESSION_END)
            await tick_job(worker.ctx)  # the session ends: two learners enrolled
            clock.set(SESSION_END + timedelta(hours=1))
            await tick_job(worker.ctx)  # two deliveries due, enqueued
            await drain(drv)
            await process_inbound_job(worker.ctx, 999_999)  # no such event: not counted
            await tick_job(worker.ctx)  # the sends are counted on the next line
    lines = [r.getMessage() for r in caplog.records if r.name == "ancrage.worker" and r.levelno == logging.INFO]
    ticks = [line for line in lines if line.startswith("tick: ")]
    assert len(ticks) == 3, lines
    assert ticks[0] == "tick: 0 due, 0 sent, 0 failed, 0 replies processed (1 sessions ended, 2 enrolled)"
    assert ticks[1].startswith("tick: 2 due, 0 sent, 0 failed, 0 replies processed")
    assert ticks[2].startswith("tick: 0 due, 2 sent, 0 failed, 0 replies processed")
    assert len(providers.sms()) == 2
    everything = "\n".join(r.getMessage() for r in caplog.records)
    for secret in ("+33612345678", "06 12 34 56 78", "612345678", "secret bien gardé", "Camille"):
        assert secret not in everything
