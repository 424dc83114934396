"""Property tests: whatever arrives, the app answers 2xx/4xx (never 5xx), and every
inbound message it accepts is stored."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.settings import Settings
from engine.store.models import InboundEvent
from tests.support.seed import Seed
from tests.support.web_support import NOW, PUBLIC_URL, post_signed, twilio_signature
from webhooks.deps import create_api_key, issue_app_token

FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
SMS = "/webhooks/twilio/sms"

field_text = st.text(max_size=40) | st.sampled_from(["", "+33612345678", "whatsapp:+33612345678",
                                                    "SM" + "0" * 32, "0", "-1", "é" * 3])
forms = st.fixed_dictionaries(
    {}, optional={"MessageSid": field_text, "From": field_text, "To": field_text,
                  "Body": st.text(max_size=300), "NumMedia": field_text,
                  "MessageStatus": st.sampled_from(["sent", "delivered", "read", "failed", "x"])},
).flatmap(lambda base: st.dictionaries(st.text(min_size=1, max_size=12), field_text,
                                       max_size=4).map(lambda extra: {**extra, **base}))


async def stored(maker: async_sessionmaker[AsyncSession], provider_id: str) -> bool:
    async with maker() as session:
        return (await session.exec(select(InboundEvent.id).where(
            col(InboundEvent.provider) == "twilio",
            col(InboundEvent.provider_id) == provider_id))).first() is not None


@FUZZ
@given(form=forms, signed=st.booleans(), path=st.sampled_from([SMS, "/webhooks/twilio/status",
                                                               "/webhooks/twilio/status?d=1"]),
       extra_headers=st.dictionaries(st.sampled_from(["I-Twilio-Idempotency-Token",
                                                      "X-Forwarded-Proto", "Accept"]),
                                     st.text(alphabet=st.characters(min_codepoint=32,
                                                                    max_codepoint=126),
                                             max_size=20), max_size=2))
async def test_twilio_routes_never_fail_and_store_what_they_accept(
        client: httpx.AsyncClient, session_maker: async_sessionmaker[AsyncSession],
        form: dict[str, str], signed: bool, path: str, extra_headers: dict[str, str]) -> None:
    if signed:
        response = await post_signed(client, path, form, headers=extra_headers)
    else:
        response = await client.post(path, content=urlencode(form).encode(), headers={
            "Content-Type": "application/x-www-form-urlencoded", **extra_headers,
            "X-Twilio-Signature": twilio_signature(PUBLIC_URL + path, form, "other")})
    assert response.status_code < 500, response.text
    if not signed:  # malformed forms are refused before the signature check (400)
        assert response.status_code in (400, 403)
    if path == SMS and response.status_code == 200:
        assert await stored(session_maker, form["MessageSid"])


@FUZZ
@given(body=st.binary(max_size=400), content_type=st.sampled_from([
    "application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=utf-8",
    "multipart/form-data", "text/plain", ""]))
async def test_arbitrary_bytes_are_rejected_cleanly(client: httpx.AsyncClient, body: bytes,
                                                    content_type: str) -> None:
    response = await client.post(SMS, content=body, headers={
        "Content-Type": content_type, "X-Twilio-Signature": "AAAA"})
    assert 400 <= response.status_code < 500


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner,
                                                               max_size=3), max_leaves=8)
attendee = st.fixed_dictionaries({}, optional={
    key: st.text(max_size=20) | st.sampled_from(["06 12 34 56 78", "a@b.fr", "Europe/Paris"])
    for key in ("first_name", "last_name", "phone", "email", "timezone", "locale",
                "manager_email", "external_id")})
session_body = st.fixed_dictionaries({}, optional={
    "external_id": st.text(max_size=10), "title": st.text(max_size=10),
    "starts_at": st.sampled_from(["2025-03-03T09:00:00", "nope", "0001-01-01T00:00:00+14:00"]),
    "ends_at": st.sampled_from(["2025-03-05T17:00:00Z", "9999-12-31T23:59:59"]),
    "timezone": st.text(max_size=12) | st.just("Europe/Paris"), "campaigns": json_values})


@FUZZ
@given(target=st.sampled_from(["sessions", "attendees", "answers", "devices"]),
       body=json_values, rows=st.lists(attendee, max_size=4), session_fields=session_body)
async def test_json_apis_never_fail(
        client: httpx.AsyncClient, session_maker: async_sessionmaker[AsyncSession],
        settings: Settings, seed: Seed, target: str, body: Any, rows: list[dict[str, str]],
        session_fields: dict[str, Any]) -> None:
    if "headers" not in FUZZ_STATE:
        learner = await seed.learner()
        async with session_maker() as session:
            key = await create_api_key(session, "fuzz")
            await session.commit()
        token = issue_app_token(settings, learner.id or 0, NOW, timedelta(days=30))
        FUZZ_STATE["headers"] = {"X-Api-Key": key, "Authorization": f"Bearer {token}"}
    headers = FUZZ_STATE["headers"]
    if target == "sessions":
        response = await client.post("/api/v1/sessions", json=session_fields, headers=headers)
    elif target == "attendees":
        made = await client.post("/api/v1/sessions", headers=headers, json={
            "external_id": "FUZZ", "title": "t", "starts_at": "2025-03-03T09:00:00",
            "ends_at": "2025-03-03T17:00:00"})
        response = await client.post(f"/api/v1/sessions/{made.json()['id']}/attendees",
                                     json=rows if rows else body, headers=headers)
    elif target == "answers":
        response = await client.post("/api/v1/app/answers", json=body, headers=headers)
    else:
        response = await client.post("/api/v1/app/devices", json=body, headers=headers)
    assert response.status_code < 500, response.text


FUZZ_STATE: dict[str, Any] = {}


def setup_function() -> None:
    FUZZ_STATE.clear()  # a fresh database per test (and backend): new key and learner
