"""The sandbox pages read as a French trainer expects: words instead of codes, Paris time."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI

from engine.store.models import Alert, InboundEvent
from tests.support.seed import Seed
from tests.support.web_support import NOW
from webhooks import sandbox


async def test_phone_and_overview_speak_french_in_the_viewers_zone(app: FastAPI, client: httpx.AsyncClient,
                                                                   seed: Seed) -> None:
    app.include_router(sandbox.router)
    learner = await seed.learner(first_name="Camille")
    delivery = await seed.delivery(enrollment=await seed.enrollment(learner=learner), sent_at=NOW)
    await seed.save(InboundEvent(provider="twilio", provider_id="SM1", channel="sms", sender=learner.phone or "",
                                 learner_id=learner.id, received_at=NOW, body="B", status="processed", raw={}))
    await seed.save(Alert(learner_id=learner.id or 0, kind="low_rating", reason="Note 1/5", created_at=NOW))
    paris = NOW.astimezone(ZoneInfo("Europe/Paris")).strftime("%d/%m %H:%M")
    utc = NOW.astimezone(ZoneInfo("UTC")).strftime("%d/%m %H:%M")
    assert paris != utc  # the test would not tell the zones apart otherwise
    phone = (await client.get(f"/sandbox/phone/{learner.id}")).text
    assert f"{paris} · e-mail" in phone and f"{paris} · prise en compte" in phone
    assert "processed" not in phone and "UTC" not in phone and delivery.step_id not in phone
    overview = (await client.get("/sandbox")).text
    assert f"{paris} · Camille Martin · note basse : Note 1/5" in overview
    assert "low_rating" not in overview and "UTC" not in overview
