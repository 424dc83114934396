"""Push notifications through Firebase Cloud Messaging (HTTP v1) with firebase-admin.

Each channel owns a named firebase `App` built from a service-account dict,
so several configurations (or tests) never share global state. Sends go
through `messaging.send_each_async` in batches of at most 500.

firebase-admin has no supported option to change the FCM host (emulators
exist for Auth, Firestore and Storage, not FCM). `_point_messaging_at` is the
single place where we reach into its messaging service to swap the URL; the
OAuth token endpoint needs no such trick since it is the service account's
`token_uri`. Tests prove the fake receives real HTTP from the real library.
"""

from __future__ import annotations

import asyncio
import itertools
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import firebase_admin
from firebase_admin import credentials, exceptions, messaging

from engine.channels.base import ChannelBase, OutboundMessage, SendResult, permanent, transient

FCM_API_BASE = "https://fcm.googleapis.com"
MAX_BATCH = 500
_DEFAULT_QUOTA_RETRY_AFTER = 60.0
_app_ids = itertools.count(1)

# FCM errorCodes firebase-admin maps to its own exception classes.
_FCM_CODES: tuple[tuple[type[Exception], str], ...] = (
    (messaging.UnregisteredError, "UNREGISTERED"),
    (messaging.QuotaExceededError, "QUOTA_EXCEEDED"),
    (messaging.SenderIdMismatchError, "SENDER_ID_MISMATCH"),
    (messaging.ThirdPartyAuthError, "THIRD_PARTY_AUTH_ERROR"),
)


@dataclass(frozen=True)
class FcmConfig:
    """`service_account` is the content of the Firebase service-account JSON key."""

    service_account: Mapping[str, Any]
    project_id: str | None = None
    api_base: str = FCM_API_BASE
    timeout: float = 15.0


class FcmChannel(ChannelBase):
    """Push channel: `OutboundMessage.to` is the device's registration token."""

    name = "push"

    def __init__(self, config: FcmConfig) -> None:
        self._config = config
        options: dict[str, Any] = {"httpTimeout": config.timeout}
        if config.project_id:
            options["projectId"] = config.project_id
        self._app = firebase_admin.initialize_app(
            credentials.Certificate(dict(config.service_account)),
            options=options,
            name=f"ancrage-fcm-{next(_app_ids)}",
        )
        self._service: Any = None

    def _messaging(self) -> Any:
        if self._service is None:
            self._service = messaging._get_messaging_service(self._app)
            if self._config.api_base.rstrip("/") != FCM_API_BASE:
                _point_messaging_at(self._service, self._config.api_base)
        return self._service

    async def aclose(self) -> None:
        """Close the HTTP pool in this loop, then delete the app (its own close uses asyncio.run)."""
        if self._app is None:
            return
        if self._service is not None:
            await self._service._async_client.aclose()
        app, self._app, self._service = self._app, None, None
        await asyncio.to_thread(firebase_admin.delete_app, app)

    async def send(self, message: OutboundMessage) -> SendResult:
        return (await self.send_many([message]))[0]

    async def send_many(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        self._messaging()
        results: list[SendResult] = []
        for start in range(0, len(messages), MAX_BATCH):
            chunk = [build_message(m) for m in messages[start : start + MAX_BATCH]]
            results.extend(await self._send_chunk(chunk))
        return results

    async def _send_chunk(self, chunk: list[messaging.Message]) -> list[SendResult]:
        try:
            batch = await messaging.send_each_async(chunk, app=self._app)
        except ValueError:
            # firebase-admin validates while encoding and rejects the whole
            # batch for one bad message, before sending any: resend one by one.
            if len(chunk) == 1:
                return [permanent("invalid push message", code="INVALID_MESSAGE")]
            return [(await self._send_chunk([message]))[0] for message in chunk]
        except exceptions.FirebaseError as exc:  # the whole batch failed to go out
            return [classify_error(exc)] * len(chunk)
        return [
            SendResult("accepted", provider_id=r.message_id)
            if r.success
            else classify_error(r.exception)
            for r in batch.responses
        ]


def build_message(message: OutboundMessage) -> messaging.Message:
    """An FCM message with a visible notification and the data the app needs to answer."""
    data = {**message.data, "delivery_id": str(message.delivery_id)}
    if message.link:
        data["link"] = message.link
    webpush = None
    if message.link and message.link.startswith("https://"):
        webpush = messaging.WebpushConfig(
            fcm_options=messaging.WebpushFCMOptions(link=message.link)
        )
    with warnings.catch_warnings():
        # firebase-admin 7.x deprecates `token` for `fid` (installation ids);
        # the mobile SDKs still hand out registration tokens, which is what we store.
        warnings.simplefilter("ignore", DeprecationWarning)
        return messaging.Message(
            token=message.to,
            notification=messaging.Notification(title=message.title, body=message.body),
            data=data,
            android=messaging.AndroidConfig(priority="high"),
            webpush=webpush,
        )


def classify_error(exc: Exception | None) -> SendResult:
    """Map a firebase-admin error to a SendResult: dead tokens, retries, the rest."""
    if not isinstance(exc, exceptions.FirebaseError):
        return transient(f"unexpected error: {type(exc).__name__}", code="UNKNOWN")
    code = next((name for cls, name in _FCM_CODES if isinstance(exc, cls)), str(exc.code))
    text = str(exc)
    if isinstance(exc, messaging.UnregisteredError | messaging.SenderIdMismatchError):
        return permanent(text, code=code, dead_token=True)
    if isinstance(exc, exceptions.InvalidArgumentError):
        # FCM answers INVALID_ARGUMENT for malformed tokens; our payloads are
        # built and validated by firebase-admin, so the token is the suspect.
        return permanent(text, code=code, dead_token=True)
    if isinstance(exc, exceptions.ResourceExhaustedError):
        return transient(
            text, code=code, retry_after=_retry_after(exc) or _DEFAULT_QUOTA_RETRY_AFTER
        )
    if isinstance(exc, messaging.ThirdPartyAuthError):  # APNs/Web push credentials: ours to fix
        return permanent(text, code=code)
    if isinstance(
        exc,
        exceptions.UnavailableError
        | exceptions.InternalError
        | exceptions.DeadlineExceededError
        | exceptions.UnknownError
        | exceptions.UnauthenticatedError
        | exceptions.PermissionDeniedError
        | exceptions.AbortedError
        | exceptions.CancelledError,
    ):
        return transient(text, code=code, retry_after=_retry_after(exc))
    return permanent(text, code=code)


def _retry_after(exc: exceptions.FirebaseError) -> float | None:
    response = exc.http_response
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _point_messaging_at(service: Any, api_base: str) -> None:
    """Send FCM requests to `api_base` (a fake) instead of fcm.googleapis.com."""
    service._fcm_url = f"{api_base.rstrip('/')}/v1/projects/{service._project_id}/messages:send"
