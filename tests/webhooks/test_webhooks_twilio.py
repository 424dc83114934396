"""Twilio webhooks: signature (incl. behind a TLS proxy), dedupe, limits, status order."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.store.models import Delivery
from tests.support.web_support import (
    PUBLIC_URL,
    Recorder,
    Seed,
    inbound_events,
    inbound_form,
    post_signed,
    twilio_signature,
)

SMS = "/webhooks/twilio/sms"


async def test_signed_inbound_is_stored_once_and_enqueued_once(
        client: httpx.AsyncClient, session_maker: async_sessionmaker[AsyncSession],
        recorder: Recorder) -> None:
    form = inbound_form(body="b)")
    for _ in range(3):  # Twilio retries: same MessageSid three times
        response = await post_signed(client, SMS, form)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/xml")
        assert "<Response" in response.text
    events = await inbound_events(session_maker)
    assert len(events) == 1
    event = events[0]
    assert (event.provider, event.provider_id, event.channel) == ("twilio", form["MessageSid"], "sms")
    assert (event.sender, event.recipient, event.body, event.status) == (
        "+33612345678", "+33700000000", "b)", "received")
    assert event.raw["MessageSid"] == form["MessageSid"]
    assert recorder.calls == [("process_inbound_job", event.id)]


async def test_whatsapp_and_unknown_sender_are_stored(
        client: httpx.AsyncClient, session_maker: async_sessionmaker[AsyncSession]) -> None:
    form = inbound_form(sid="SMwa", sender="whatsapp:+447700900123", body="Bonjour")
    form["To"] = "whatsapp:+33700000000"
    headers = {"I-Twilio-Idempotency-Token": "idem-123"}
    assert (await post_signed(client, SMS, form, headers=headers)).status_code == 200
    [event] = await inbound_events(session_maker)
    assert (event.channel, event.sender, event.learner_id) == ("whatsapp", "+447700900123", None)
    assert event.raw["_idempotency_token"] == "idem-123"


async def test_forged_or_missing_signature_is_403_and_stores_nothing(
        client: httpx.AsyncClient, session_maker: async_sessionmaker[AsyncSession],
        recorder: Recorder) -> None:
    form = inbound_form()
    body = urlencode(form).encode()
    ctype = {"Content-Type": "application/x-www-form-urlencoded"}
    missing = await client.post(SMS, content=body, headers=ctype)
    forged = await client.post(SMS, content=body, headers={
        **ctype, "X-Twilio-Signature": twilio_signature(PUBLIC_URL + SMS, form, "wrong")})
    tampered_form = {**form, "Body": "A"}  # signature of another body
    tampered = await client.post(SMS, content=urlencode(tampered_form).encode(), headers={
        **ctype, "X-Twilio-Signature": twilio_signature(PUBLIC_URL + SMS, form)})
    assert [r.status_code for r in (missing, forged, tampered)] == [403, 403, 403]
    assert await inbound_events(session_maker) == []
    assert recorder.calls == []


async def test_signature_checked_against_public_url_behind_a_tls_proxy(
        client: httpx.AsyncClient, session_maker: async_sessionmaker[AsyncSession]) -> None:
    # The proxy terminates TLS for https://example.org; the app sees http://testserver.
    as_seen_by_app = await post_signed(client, SMS, inbound_form(sid="SM1"),
                                       signed_url="http://testserver" + SMS)
    as_signed_by_twilio = await post_signed(client, SMS, inbound_form(sid="SM2"))
    forwarded = await post_signed(client, SMS, inbound_form(sid="SM3"),
                                  signed_url="https://evil.example" + SMS,
                                  headers={"X-Forwarded-Host": "evil.example",
                                           "X-Forwarded-Proto": "https"})
    assert (as_seen_by_app.status_code, as_signed_by_twilio.status_code,
            forwarded.status_code) == (403, 200, 403)
    assert [e.provider_id for e in await inbound_events(session_maker)] == ["SM2"]


async def test_bad_inputs_are_4xx_never_500(
        client: httpx.AsyncClient, session_maker: async_sessionmaker[AsyncSession]) -> None:
    big = await post_signed(client, SMS, inbound_form(sid="SMbig", body="é" * 5000))  # ~10 kB
    assert big.status_code == 200
    huge = await post_signed(client, SMS, inbound_form(sid="SMhuge", body="x" * 70_000))
    assert huge.status_code == 413
    ctype = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "x"}
    raw_bad = await client.post(SMS, content=b"MessageSid=SM9&From=%2B336&Body=\xff\xfe",
                                headers=ctype)
    escaped_bad = await client.post(SMS, content=b"MessageSid=SM9&From=%2B336&Body=%FF",
                                    headers=ctype)
    assert (raw_bad.status_code, escaped_bad.status_code) == (400, 400)
    no_body = inbound_form(sid="SMnobody")
    del no_body["Body"]
    missing = await post_signed(client, SMS, no_body)
    assert missing.status_code == 400 and "Body" in missing.json()["detail"]
    no_from = inbound_form(sid="SMnofrom")
    del no_from["From"]
    assert (await post_signed(client, SMS, no_from)).status_code == 400
    nul = await post_signed(client, SMS, inbound_form(sid="SMnul", body="a\x00b"))
    assert nul.status_code == 400
    long_sid = await post_signed(client, SMS, inbound_form(sid="SM" + "9" * 200))
    assert long_sid.status_code == 400
    as_json = await client.post(SMS, json=inbound_form(), headers={"X-Twilio-Signature": "x"})
    assert as_json.status_code == 415
    assert [e.provider_id for e in await inbound_events(session_maker)] == ["SMbig"]


async def test_enqueue_failure_still_acknowledges_and_keeps_the_event(
        client: httpx.AsyncClient, session_maker: async_sessionmaker[AsyncSession],
        recorder: Recorder) -> None:
    recorder.fail = True
    response = await post_signed(client, SMS, inbound_form(sid="SMredisdown"))
    assert response.status_code == 200
    [event] = await inbound_events(session_maker)
    assert event.status == "received"  # the worker's sweep picks it up


async def test_status_callbacks_in_reverse_order_end_in_the_furthest_state(
        client: httpx.AsyncClient, seed: Seed,
        session_maker: async_sessionmaker[AsyncSession]) -> None:
    enrollment = await seed.enrollment()
    delivery = await seed.delivery(enrollment=enrollment, status="sending", channel="sms",
                                   provider_id="SMout1", sent_at=None)
    path = f"/webhooks/twilio/status?d={delivery.id}"
    for status in ("read", "delivered", "sent", "queued", "read"):
        form = {"MessageSid": "SMout1", "MessageStatus": status, "AccountSid": "AC1"}
        response = await post_signed(client, path, form)
        assert response.status_code == 204
    async with session_maker() as session:
        stored = await session.get(Delivery, delivery.id)
        assert stored is not None
        assert stored.status == "read" and stored.finished_at is not None


async def test_status_callback_failure_and_rejections(
        client: httpx.AsyncClient, seed: Seed,
        session_maker: async_sessionmaker[AsyncSession]) -> None:
    enrollment = await seed.enrollment()
    delivery = await seed.delivery(enrollment=enrollment, status="sent", channel="sms",
                                   provider_id="SMout2")
    path = f"/webhooks/twilio/status?d={delivery.id}"
    form = {"MessageSid": "SMout2", "MessageStatus": "undelivered", "ErrorCode": "30003"}
    assert (await post_signed(client, path, form)).status_code == 204
    unsigned = await client.post(path, data={"MessageSid": "SMout2", "MessageStatus": "read"})
    assert unsigned.status_code == 403
    no_sid = await post_signed(client, path, {"MessageStatus": "delivered"})
    assert no_sid.status_code == 400
    # signed for another delivery's query string: the query is part of what is signed
    other = await post_signed(client, path, {"MessageSid": "SMout2", "MessageStatus": "read"},
                              signed_url=PUBLIC_URL + "/webhooks/twilio/status?d=999")
    assert other.status_code == 403
    async with session_maker() as session:
        stored = await session.get(Delivery, delivery.id)
        assert stored is not None
        assert (stored.status, stored.error_code) == ("failed", "30003")


async def test_statuses_we_do_not_act_on_are_acknowledged_and_change_nothing(
        client: httpx.AsyncClient, seed: Seed,
        session_maker: async_sessionmaker[AsyncSession]) -> None:
    enrollment = await seed.enrollment()
    delivery = await seed.delivery(enrollment=enrollment, status="sent", channel="sms",
                                   provider_id="SMout3")
    path = f"/webhooks/twilio/status?d={delivery.id}"
    for raw in ("partially_delivered", "receiving", "received", "accepted", "scheduled", "teleported"):
        response = await post_signed(client, path, {"MessageSid": "SMout3", "MessageStatus": raw})
        assert response.status_code == 204, (raw, response.text)
    async with session_maker() as session:
        stored = await session.get(Delivery, delivery.id)
        assert stored is not None
        assert (stored.status, stored.error_code) == ("sent", None)
