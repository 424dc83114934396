"""End to end with real arq workers: a CSV session enrolled, ticks at successive
fake-clock times, and the right SMS (twilio), push (firebase-admin) and email
(aiosmtplib) reaching the local fakes at the right local times, once each.

Twice: PostgreSQL + the shared Redis on TCP, and the embedded defaults (an
SQLite file + a private Redis on a Unix socket).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from engine.store.models import Learner, PushToken
from tests.support.engine_harness import HandClock, write_campaign
from tests.support.worker_harness import (
    Driver,
    Providers,
    add_session_from_csv,
    drain,
    driver,
    live_settings,
    redis_server,
    running_worker,
)

PARIS = ZoneInfo("Europe/Paris")
MONTREAL = ZoneInfo("America/Montreal")
# Friday before the spring DST change (Sunday 29 March 2026).
SESSION_END = datetime(2026, 3, 27, 17, 0, tzinfo=PARIS)

CAMPAIGN = """
campaign: e2e-worker
title: Suivi e2e
defaults:
  channels: [push, sms, email]
  window: {days: [mon, tue, wed, thu, fri], from: "09:00", to: "18:00"}
steps:
  - id: welcome
    at: +2h
    message: "Bonjour {{ learner.first_name }}, merci pour {{ session.title }}."
  - id: tip
    at: +1d 09:30
    lesson: management/astuce-01
"""

CSV = """prénom;nom;téléphone;email;fuseau
Camille;Martin;06 12 34 56 78;;Europe/Paris
Yanis;Benali;;yanis@example.fr;Europe/Paris
Léa;Roux;+1 514 555 0123;;America/Montreal
Inès;Haddad;06 98 76 54 32;ines@example.fr;Europe/Paris
"""
INES_TOKEN = "fcm-token-ines-0001"


async def _enrol_from_csv(drv: Driver) -> None:
    rows = await add_session_from_csv(drv.rt, CSV, campaign="e2e-worker", ends_at=SESSION_END)
    async with drv.rt.sessions() as session, session.begin():
        ines = next(row for row in rows if row.first_name == "Inès")
        session.add(PushToken(learner_id=ines.id or 0, token=INES_TOKEN, platform="android"))


@pytest.mark.parametrize(("store_url", "redis_kind"), [("postgresql", "tcp"), ("sqlite", "private")],
                         indirect=["store_url"], ids=["pg-tcp", "sqlite-private"])
async def test_campaign_reaches_each_provider_at_local_times(store_url: str, redis_kind: str, tmp_path: Path,
                                                           providers: Providers) -> None:
    write_campaign(tmp_path / "campaigns", CAMPAIGN)
    clock = HandClock(SESSION_END - timedelta(minutes=1))
    arrivals: dict[int, datetime] = {}  # delivery id -> hand-clock time its message reached the provider
    with redis_server(redis_kind) as redis_url:
        settings = live_settings(store_url, redis_url, tmp_path, providers, tmp_path / "campaigns")
        async with driver(settings, clock) as drv, running_worker(settings, clock):
            await _enrol_from_csv(drv)
            moments = [SESSION_END, datetime(2026, 3, 27, 13, 59, tzinfo=MONTREAL),
                       datetime(2026, 3, 27, 14, 0, tzinfo=MONTREAL), datetime(2026, 3, 28, 12, 0, tzinfo=PARIS),
                       datetime(2026, 3, 30, 8, 59, tzinfo=PARIS), datetime(2026, 3, 30, 9, 0, tzinfo=PARIS),
                       datetime(2026, 3, 30, 9, 29, tzinfo=PARIS), datetime(2026, 3, 30, 9, 30, tzinfo=PARIS),
                       datetime(2026, 3, 30, 9, 29, tzinfo=MONTREAL), datetime(2026, 3, 30, 9, 30, tzinfo=MONTREAL),
                       datetime(2026, 3, 30, 12, 0, tzinfo=MONTREAL)]
            for moment in moments:
                clock.set(moment)
                await drv.tick()
                await drain(drv)
                for delivery_id in providers.per_delivery():
                    arrivals.setdefault(delivery_id, clock.now)
            deliveries = await drv.deliveries()
            async with drv.rt.sessions() as session:
                names = {row.id: row.first_name for row in (await session.exec(
                    Learner.__table__.select())).all()}  # type: ignore[attr-defined]

    # Nothing lost, nothing twice: every delivery sent, each by exactly one provider message.
    assert len(deliveries) == 8
    assert {d.status for d in deliveries} == {"sent"}, [(d.id, d.status, d.status_reason) for d in deliveries]
    assert providers.per_delivery() == {d.id: 1 for d in deliveries}
    where = {(names[d.learner_id], d.step_id): (d.channel, arrivals[d.id or 0]) for d in deliveries}

    def local(zone: ZoneInfo, moment: datetime) -> str:
        return moment.astimezone(zone).strftime("%a %H:%M %Z")

    # Léa (Montreal): +2h after 12:00 local is Friday 14:00 there; the tip waits for Monday 09:30 local.
    assert where["Léa", "welcome"][0] == "sms" and local(MONTREAL, where["Léa", "welcome"][1]) == "Fri 14:00 EDT"
    assert local(MONTREAL, where["Léa", "tip"][1]) == "Mon 09:30 EDT"
    # Paris: Friday 19:00 is outside the window; Monday 09:00 (after the DST change) it is.
    for name, channel in (("Camille", "sms"), ("Yanis", "email"), ("Inès", "push")):
        assert where[name, "welcome"] == (channel, datetime(2026, 3, 30, 9, 0, tzinfo=PARIS)), name
        assert where[name, "tip"][0] == channel and local(PARIS, where[name, "tip"][1]) == "Mon 09:30 CEST"
    sms = {m["to"]: m["body"] for _, m in providers.sms() if "Bonjour" in m["body"]}
    assert sms == {"+33612345678": "Bonjour Camille, merci pour Manager coach.",
                   "+15145550123": "Bonjour Léa, merci pour Manager coach."}
    [push] = [p for _, p in providers.pushes() if "Bonjour" in p["message"]["notification"]["body"]]
    assert push["message"]["token"] == INES_TOKEN
    assert {e.message["To"] for _, e in providers.emails()} == {"yanis@example.fr"}
