"""The real twilio client against the local fake Twilio, over loopback HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from engine.channels.base import OutboundMessage
from engine.channels.twilio import (
    TwilioChannel,
    TwilioConfig,
    classify_error,
    messaging_response,
    parse_inbound,
    parse_status,
    status_callback_url,
    verify_signature,
)
from engine.fakes.fake_twilio import FakeTwilio
from engine.fakes.server import free_port, run_in_thread

LEARNER = "+33612345678"


def sms(
    to: str = LEARNER, delivery_id: int = 42, body: str = "Quiz : répondez A, B ou C"
) -> OutboundMessage:
    return OutboundMessage(delivery_id=delivery_id, channel="sms", to=to, body=body)


async def test_accepted_sms_reaches_fake_with_callback_url(
    fake: FakeTwilio, make_channel: Callable[..., TwilioChannel]
) -> None:
    result = await make_channel().send(sms())

    assert result.status == "accepted"
    assert result.provider_id is not None
    assert result.provider_id.startswith("SM") and len(result.provider_id) == 34
    [sent] = fake.messages
    assert sent["sid"] == result.provider_id
    assert (sent["to"], sent["from"], sent["body"]) == (LEARNER, "+33757000000", sms().body)
    assert sent["status_callback"] == "https://ancrage.example.org/webhooks/twilio/status?d=42"
    assert sent["num_segments"] == "1"


async def test_messaging_service_replaces_from_number(
    fake: FakeTwilio, make_channel: Callable[..., TwilioChannel]
) -> None:
    channel = make_channel(from_number=None, messaging_service_sid="MG" + "1" * 32)
    assert (await channel.send(sms())).accepted
    assert fake.messages[0]["messaging_service_sid"] == "MG" + "1" * 32
    assert fake.messages[0]["from"] is None
    assert fake.messages[0]["status"] == "accepted"


async def test_whatsapp_addressing(
    fake: FakeTwilio, make_channel: Callable[..., TwilioChannel]
) -> None:
    message = OutboundMessage(delivery_id=7, channel="whatsapp", to=LEARNER, body="Bonjour !")
    result = await make_channel("whatsapp").send(message)

    assert result.accepted
    assert fake.messages[0]["to"] == f"whatsapp:{LEARNER}"
    assert fake.messages[0]["from"] == "whatsapp:+14155238886"


@pytest.mark.parametrize(
    ("failure", "status", "code", "opted_out", "retry_after"),
    [
        ("invalid", "failed_permanent", "21211", False, None),
        ("not_mobile", "failed_permanent", "21614", False, None),
        ("unsubscribed", "failed_permanent", "21610", True, None),
        ("server_error", "failed_transient", "20500", False, None),
        ("rate_limited", "failed_transient", "20429", False, 2.0),
    ],
)
async def test_errors_are_mapped(
    fake: FakeTwilio,
    make_channel: Callable[..., TwilioChannel],
    failure: Any,
    status: str,
    code: str,
    opted_out: bool,
    retry_after: float | None,
) -> None:
    fake.fail(LEARNER, failure)
    result = await make_channel().send(sms())

    assert (result.status, result.error_code, result.opted_out) == (status, code, opted_out)
    assert result.retry_after == retry_after
    assert result.provider_id is None
    assert fake.messages == []


async def test_rate_limit_without_retry_after_header_gets_a_default(
    fake: FakeTwilio, make_channel: Callable[..., TwilioChannel]
) -> None:
    fake.retry_after = None
    fake.fail(LEARNER, "rate_limited")
    result = await make_channel().send(sms())
    assert result.status == "failed_transient" and result.retry_after == 1.0


async def test_malformed_number_is_refused_by_twilio(
    make_channel: Callable[..., TwilioChannel],
) -> None:
    result = await make_channel().send(sms(to="06 12 34 56 78"))
    assert (result.status, result.error_code) == ("failed_permanent", "21211")


async def test_slow_api_times_out_as_transient(
    fake: FakeTwilio, make_channel: Callable[..., TwilioChannel]
) -> None:
    fake.fail(LEARNER, "slow")
    result = await make_channel(timeout=0.2).send(sms())
    assert (result.status, result.error_code) == ("failed_transient", "timeout")


async def test_wrong_credentials_are_transient(make_channel: Callable[..., TwilioChannel]) -> None:
    result = await make_channel(auth_token="wrong").send(sms())
    assert (result.status, result.error_code) == ("failed_transient", "20003")


async def test_unreachable_api_is_transient(make_channel: Callable[..., TwilioChannel]) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    result = await make_channel(api_base=closed).send(sms())
    assert (result.status, result.error_code) == ("failed_transient", "network")


async def test_real_api_host_is_unreachable_from_tests(fake: FakeTwilio) -> None:
    """Proves the loopback guard: the default host fails fast, no request leaves."""
    channel = TwilioChannel(TwilioConfig(fake.account_sid, fake.auth_token, from_number="+1500"))
    try:
        result = await channel.send(sms())
    finally:
        await channel.aclose()
    assert (result.status, result.error_code) == ("failed_transient", "network")


async def test_send_many_runs_concurrently_and_keeps_order(
    fake: FakeTwilio, make_channel: Callable[..., TwilioChannel]
) -> None:
    fake.fail("+33600000003", "invalid")
    messages = [sms(to=f"+3360000000{i}", delivery_id=i) for i in range(1, 6)]
    results = await make_channel(concurrency=2).send_many(messages)

    assert [r.status for r in results] == ["accepted"] * 2 + ["failed_permanent"] + ["accepted"] * 2
    assert len({r.provider_id for r in results if r.accepted}) == 4
    assert sorted(m["to"] for m in fake.messages) == [
        m.to for m in messages if m.to != "+33600000003"
    ]


async def test_status_callbacks_are_signed_and_parse(
    fake: FakeTwilio, make_channel: Callable[..., TwilioChannel]
) -> None:
    received: list[tuple[str, dict[str, str], str | None]] = []

    async def status(request: Request) -> PlainTextResponse:
        form = {k: str(v) for k, v in (await request.form()).items()}
        received.append((str(request.url), form, request.headers.get("X-Twilio-Signature")))
        return PlainTextResponse("", status_code=204)

    receiver = Starlette(routes=[Route("/webhooks/twilio/status", status, methods=["POST"])])
    fake.send_callbacks = True
    with run_in_thread(receiver) as our_base:
        result = await make_channel(status_callback_base=our_base).send(sms(delivery_id=99))
        callbacks = fake.wait_for_callbacks(3)

    assert [c.status_code for c in callbacks] == [204, 204, 204]
    assert len(received) == 3
    for url, form, signature in received:
        assert url == f"{our_base}/webhooks/twilio/status?d=99"
        assert verify_signature(fake.auth_token, url, form, signature)
        assert not verify_signature("another-token", url, form, signature)
        assert not verify_signature(
            fake.auth_token, url, {**form, "MessageStatus": "read"}, signature
        )
    updates = [u for url, form, _ in received if (u := parse_status(form, url.rpartition("d=")[2]))]
    assert [u.status for u in updates] == ["queued", "sent", "delivered"]
    assert {(u.provider_id, u.delivery_id) for u in updates} == {(result.provider_id, 99)}


def test_signature_matches_twilio_published_vector() -> None:
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert verify_signature("12345", url, params, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    assert not verify_signature(
        "12345", url, {**params, "Digits": "9999"}, "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    )
    assert not verify_signature("12345", url, params, None)
    assert not verify_signature("12345", url, params, "")


@pytest.mark.parametrize("signed_url, checked_url", [
    ("https://example.fr/webhooks/twilio/sms", "https://example.fr/webhooks/twilio/sms"),
    ("https://example.fr:443/webhooks/twilio/sms", "https://example.fr/webhooks/twilio/sms"),
    ("https://example.fr/webhooks/twilio/sms", "https://example.fr:443/webhooks/twilio/sms"),
    ("http://127.0.0.1:8000/webhooks/twilio/sms?d=7", "http://127.0.0.1:8000/webhooks/twilio/sms?d=7"),
    ("http://127.0.0.1:8000/webhooks/twilio/sms", "http://127.0.0.1:8001/webhooks/twilio/sms"),
    ("https://example.fr/a?d=1", "https://example.fr/a?d=2"),
])
def test_signature_check_agrees_with_twilio_validate(signed_url: str, checked_url: str) -> None:
    from twilio.request_validator import RequestValidator

    form = {"From": "+33612345678", "Body": "B", "MessageSid": "SM1"}
    signature = RequestValidator("tok").compute_signature(signed_url, form)
    assert verify_signature("tok", checked_url, form, signature) == RequestValidator("tok").validate(
        checked_url, form, signature)


def test_parse_inbound_sms(recorded: Callable[[str], Any]) -> None:
    inbound = parse_inbound(recorded("twilio_inbound_sms.json"))
    assert inbound.channel == "sms"
    assert (inbound.sender, inbound.recipient) == ("+33612345678", "+33757000000")
    assert inbound.body == "Réponse B"
    assert inbound.provider_id == "SM5f0c2f1b7c4a4f0f9d6e2b8a1c3d4e5f"
    assert (inbound.provider, inbound.media_count) == ("twilio", 0)


def test_parse_inbound_whatsapp_strips_prefix(recorded: Callable[[str], Any]) -> None:
    inbound = parse_inbound(recorded("twilio_inbound_whatsapp.json"))
    assert inbound.channel == "whatsapp"
    assert (inbound.sender, inbound.recipient) == ("+33612345678", "+14155238886")
    assert (inbound.body, inbound.media_count) == ("4", 1)


def test_parse_inbound_rejects_non_twilio_form() -> None:
    with pytest.raises(ValueError):
        parse_inbound({"Body": "hello"})


@pytest.mark.parametrize(
    ("payload", "delivery_id", "expected"),
    [
        ("twilio_status_delivered.json", "12", ("delivered", 12, None)),
        ("twilio_status_undelivered.json", None, ("undelivered", None, "30003")),
        ("twilio_status_undelivered.json", "not-a-number", ("undelivered", None, "30003")),
    ],
)
def test_parse_status_recorded(
    recorded: Callable[[str], Any], payload: str, delivery_id: str | None, expected: tuple[Any, ...]
) -> None:
    update = parse_status(recorded(payload), delivery_id)
    assert update is not None
    assert (update.status, update.delivery_id, update.error_code) == expected
    assert update.provider_id.startswith("SM")


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("accepted", "queued"),
        ("sending", "sent"),
        ("read", "read"),
        ("failed", "failed"),
        ("canceled", "failed"),
    ],
)
def test_parse_status_normalises(raw: str, status: str) -> None:
    update = parse_status({"MessageSid": "SM1", "MessageStatus": raw})
    assert update is not None and update.status == status


@pytest.mark.parametrize("raw", ["partially_delivered", "receiving", "received", "teleported", ""])
def test_parse_status_ignores_statuses_we_do_not_act_on(raw: str) -> None:
    assert parse_status({"MessageSid": "SM1", "MessageStatus": raw}) is None


@pytest.mark.parametrize("raw", ["accepted", "scheduled", "queued", "sending", "sent", "delivered",
                                 "undelivered", "failed", "read", "canceled"])
def test_every_outbound_twilio_status_is_mapped(raw: str) -> None:
    update = parse_status({"MessageSid": "SM1", "MessageStatus": raw.upper()})
    assert update is not None and update.provider_id == "SM1"


def test_parse_status_rejects_a_form_without_message_sid() -> None:
    with pytest.raises(ValueError):
        parse_status({"MessageStatus": "delivered"})


def test_classify_recorded_opt_out_error(recorded: Callable[[str], Any]) -> None:
    body = recorded("twilio_error_21610.json")
    result = classify_error(body["status"], body["code"], body["message"])
    assert result.status == "failed_permanent" and result.opted_out


def test_status_callback_url_carries_delivery_id() -> None:
    assert (
        status_callback_url("https://a.example/", 5)
        == "https://a.example/webhooks/twilio/status?d=5"
    )


def test_messaging_response() -> None:
    assert messaging_response("Merci !").endswith("<Response><Message>Merci !</Message></Response>")
    assert messaging_response().endswith("<Response />")
    assert "&lt;b&gt;" in messaging_response("<b>")


def test_channel_requires_a_sender() -> None:
    with pytest.raises(ValueError):
        TwilioChannel(TwilioConfig("AC1", "token"))
