"""The real firebase-admin library against the local fake FCM and token endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from firebase_admin import _utils, messaging

from engine.channels import fcm
from engine.channels.base import OutboundMessage
from engine.channels.fcm import FcmChannel, FcmConfig, build_message, classify_error
from engine.fakes.fake_fcm import FakeFcm, fake_service_account
from engine.fakes.server import run_in_thread


@pytest.fixture
def fake() -> FakeFcm:
    return FakeFcm(project_id="ancrage-test")


@pytest.fixture
def api_base(fake: FakeFcm) -> Iterator[str]:
    with run_in_thread(fake.app) as base:
        yield base


@pytest.fixture
async def channel(fake: FakeFcm, api_base: str) -> AsyncIterator[FcmChannel]:
    account = fake_service_account(f"{api_base}/token", project_id=fake.project_id)
    push = FcmChannel(FcmConfig(service_account=account, api_base=api_base))
    yield push
    await push.aclose()


def push(token: str, delivery_id: int = 1, **extra: Any) -> OutboundMessage:
    return OutboundMessage(
        delivery_id=delivery_id,
        channel="push",
        to=token,
        body="Votre quiz du jour est prêt",
        title="Ancrage",
        link="https://ancrage.example.org/r/abc",
        data={"kind": "quiz"},
        **extra,
    )


async def test_accepted_push_carries_notification_and_data(
    fake: FakeFcm, channel: FcmChannel
) -> None:
    result = await channel.send(push("token-ok", delivery_id=42))

    assert result.accepted
    assert result.provider_id is not None
    assert result.provider_id.startswith("projects/ancrage-test/messages/")
    [sent] = fake.sent
    message = sent["message"]
    assert message["token"] == "token-ok"
    assert message["notification"] == {"title": "Ancrage", "body": "Votre quiz du jour est prêt"}
    assert message["data"] == {
        "kind": "quiz",
        "delivery_id": "42",
        "link": "https://ancrage.example.org/r/abc",
    }
    assert message["webpush"]["fcm_options"]["link"] == "https://ancrage.example.org/r/abc"
    # firebase-admin got its OAuth token from the fake, signed with the service account key.
    [grant] = fake.token_grants
    assert grant["iss"] == "firebase-adminsdk@ancrage-test.iam.gserviceaccount.com"


async def test_batch_with_one_dead_token(fake: FakeFcm, channel: FcmChannel) -> None:
    fake.fail("token-dead", "unregistered")
    results = await channel.send_many(
        [push("token-a", 1), push("token-dead", 2), push("token-b", 3)]
    )

    assert [r.status for r in results] == ["accepted", "failed_permanent", "accepted"]
    dead = results[1]
    assert (dead.dead_token, dead.error_code, dead.provider_id) == (True, "UNREGISTERED", None)
    # send_each_async posts concurrently: arrival order at the server is not fixed.
    assert sorted(s["message"]["token"] for s in fake.sent) == ["token-a", "token-b"]
    assert len(fake.token_grants) == 1  # one access token reused for the batch


@pytest.mark.parametrize(
    ("failure", "status", "code", "dead_token", "retry_after"),
    [
        ("invalid", "failed_permanent", "INVALID_ARGUMENT", True, None),
        ("quota", "failed_transient", "QUOTA_EXCEEDED", False, 30.0),
    ],
)
async def test_errors_over_the_wire(
    fake: FakeFcm,
    channel: FcmChannel,
    failure: Any,
    status: str,
    code: str,
    dead_token: bool,
    retry_after: float | None,
) -> None:
    fake.fail("token-x", failure)
    result = await channel.send(push("token-x"))
    assert (result.status, result.error_code, result.dead_token) == (status, code, dead_token)
    assert result.retry_after == retry_after


async def test_one_unavailable_answer_is_retried_by_firebase_admin(
    fake: FakeFcm, channel: FcmChannel
) -> None:
    fake.fail("token-flaky", "unavailable_once")
    result = await channel.send(push("token-flaky"))
    assert result.accepted
    assert fake.attempts["token-flaky"] == 2


async def test_large_sends_are_split_into_batches(
    fake: FakeFcm, channel: FcmChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert fcm.MAX_BATCH == 500  # FCM's own limit for send_each
    batch_sizes: list[int] = []
    real_send_each_async = messaging.send_each_async

    async def spy(messages: list[messaging.Message], **kwargs: Any) -> messaging.BatchResponse:
        batch_sizes.append(len(messages))
        return await real_send_each_async(messages, **kwargs)

    monkeypatch.setattr(fcm, "MAX_BATCH", 2)
    monkeypatch.setattr(messaging, "send_each_async", spy)
    results = await channel.send_many([push(f"token-{i}", i) for i in range(5)])
    assert all(r.accepted for r in results)
    assert batch_sizes == [2, 2, 1]
    assert len(fake.sent) == 5


async def test_invalid_message_fails_alone(fake: FakeFcm, channel: FcmChannel) -> None:
    bad = OutboundMessage(delivery_id=2, channel="push", to="token-b", body="x", data={"n": 1})  # type: ignore[dict-item]
    results = await channel.send_many([push("token-a"), bad, push("token-c")])
    assert [r.status for r in results] == ["accepted", "failed_permanent", "accepted"]
    assert results[1].error_code == "INVALID_MESSAGE"
    assert [s["message"]["token"] for s in fake.sent] == ["token-a", "token-c"]


async def test_wrong_project_is_transient(fake: FakeFcm, api_base: str) -> None:
    account = fake_service_account(f"{api_base}/token", project_id="someone-else")
    other = FcmChannel(FcmConfig(service_account=account, api_base=api_base))
    try:
        result = await other.send(push("token-a"))
    finally:
        await other.aclose()
    assert (result.status, result.error_code) == ("failed_transient", "PERMISSION_DENIED")


def _firebase_error(status: int, body: dict[str, Any], retry_after: str | None = None) -> Exception:
    """Build the exception exactly as firebase-admin does from an FCM HTTP response."""
    request = httpx.Request("POST", "https://fcm.googleapis.com/v1/projects/p/messages:send")
    headers = {"Retry-After": retry_after} if retry_after else {}
    response = httpx.Response(status, json=body, headers=headers, request=request)
    error = httpx.HTTPStatusError("FCM error", request=request, response=response)
    return _utils.handle_platform_error_from_httpx(  # type: ignore[no-any-return]
        error, messaging._MessagingService._build_fcm_error_httpx
    )


@pytest.mark.parametrize(
    ("payload", "status", "code", "dead_token", "retry_after"),
    [
        ("fcm_error_unregistered.json", "failed_permanent", "UNREGISTERED", True, None),
        ("fcm_error_invalid_argument.json", "failed_permanent", "INVALID_ARGUMENT", True, None),
        ("fcm_error_unavailable.json", "failed_transient", "UNAVAILABLE", False, None),
        ("fcm_error_internal.json", "failed_transient", "INTERNAL", False, None),
        ("fcm_error_quota.json", "failed_transient", "QUOTA_EXCEEDED", False, 60.0),
    ],
)
def test_classify_recorded_errors(
    recorded: Callable[[str], Any],
    payload: str,
    status: str,
    code: str,
    dead_token: bool,
    retry_after: float | None,
) -> None:
    body = recorded(payload)
    result = classify_error(_firebase_error(body["error"]["code"], body))
    assert (result.status, result.error_code, result.dead_token) == (status, code, dead_token)
    assert result.retry_after == retry_after


def test_classify_network_errors_as_transient() -> None:
    request = httpx.Request("POST", "https://fcm.googleapis.com/")
    error = _utils.handle_platform_error_from_httpx(httpx.ConnectError("refused", request=request))
    assert classify_error(error).status == "failed_transient"
    assert classify_error(RuntimeError("boom")).status == "failed_transient"


def test_build_message_skips_webpush_link_unless_https() -> None:
    message = build_message(
        OutboundMessage(delivery_id=1, channel="push", to="t", body="x", link="http://localhost/x")
    )
    assert message.webpush is None
    assert message.data["link"] == "http://localhost/x"
