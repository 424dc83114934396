"""A local stand-in for Twilio's Messages REST resource, speaking its wire format.

The real `twilio` client is pointed at this app (see `TwilioConfig.api_base`),
so tests and the demo exercise the real request encoding, Basic auth, error
parsing and signed status callbacks without leaving the machine.
Numbers can be scripted to fail the way Twilio fails.
"""

from __future__ import annotations

import asyncio
import base64
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import cached_property
from typing import Any, Literal

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

Failure = Literal[
    "invalid", "not_mobile", "unsubscribed", "server_error", "rate_limited", "slow", "undelivered"
]

API_VERSION = "2010-04-01"
_E164 = re.compile(r"^(whatsapp:)?\+[1-9]\d{6,14}$")
_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€\f"
)
# (HTTP status, Twilio error code, message) as Twilio returns them.
_ERRORS: dict[str, tuple[int, int, str]] = {
    "invalid": (400, 21211, "Invalid 'To' Phone Number: {to}"),
    "not_mobile": (400, 21614, "'To' number {to} is not a valid mobile number"),
    "unsubscribed": (400, 21610, "Attempt to send to unsubscribed recipient"),
    "server_error": (500, 20500, "Internal Server Error"),
    "rate_limited": (429, 20429, "Too Many Requests"),
}


@dataclass
class CallbackAttempt:
    """One status callback the fake posted to our webhook."""

    url: str
    params: dict[str, str]
    signature: str
    status_code: int | None


@dataclass
class FakeTwilio:
    """State and ASGI app of the fake. Run it with `engine.fakes.server.run_in_thread(fake.app)`."""

    account_sid: str = "AC" + "0" * 32
    auth_token: str = "fake-auth-token"
    send_callbacks: bool = True
    callback_delay: float = 0.0
    slow_seconds: float = 5.0
    retry_after: str | None = "2"
    messages: list[dict[str, Any]] = field(default_factory=list)
    callbacks: list[CallbackAttempt] = field(default_factory=list)
    failures: dict[str, Failure] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set, repr=False)

    def fail(self, number: str, failure: Failure) -> None:
        """Make every send to `number` (with or without "whatsapp:") fail this way."""
        self.failures[number.removeprefix("whatsapp:")] = failure

    @cached_property
    def app(self) -> Starlette:
        base = f"/{API_VERSION}/Accounts/{{account_sid}}"
        return Starlette(
            routes=[
                Route(f"{base}/Messages.json", self._create, methods=["POST"]),
                Route(f"{base}/Messages.json", self._list, methods=["GET"]),
                Route(f"{base}/Messages/{{sid}}.json", self._fetch, methods=["GET"]),
            ]
        )

    def wait_for_callbacks(self, count: int, timeout: float = 5.0) -> list[CallbackAttempt]:
        """Block until `count` status callbacks were posted (for sync and async tests alike)."""
        deadline = time.monotonic() + timeout
        while len(self.callbacks) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.callbacks)

    # -- routes ---------------------------------------------------------------

    async def _create(self, request: Request) -> Response:
        denied = self._authenticate(request)
        if denied is not None:
            return denied
        form = {k: str(v) for k, v in (await request.form()).items()}
        to = form.get("To", "")
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if not form.get("Body"):
            return _error(400, 21602, "Message body is required.")
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return _error(400, 21603, "A 'From' phone number is required.")
        if not _E164.match(to):
            return _error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        failure = self.failures.get(to.removeprefix("whatsapp:"))
        if failure == "slow":
            await asyncio.sleep(self.slow_seconds)
        elif failure in _ERRORS:
            status, code, message = _ERRORS[failure]
            headers = (
                {"Retry-After": self.retry_after} if status == 429 and self.retry_after else {}
            )
            return _error(status, code, message.format(to=to), headers)
        resource = self._resource(form)
        self.messages.append(resource)
        if self.send_callbacks and form.get("StatusCallback"):
            final = "undelivered" if failure == "undelivered" else "delivered"
            task = asyncio.create_task(
                self._post_callbacks(form["StatusCallback"], resource, final)
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return JSONResponse(resource, status_code=201)

    async def _list(self, request: Request) -> Response:
        denied = self._authenticate(request)
        if denied is not None:
            return denied
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"
        messages = list(reversed(self.messages))
        # Twilio's list filters: To, From and DateSent> (what find_sent uses).
        wanted_to, wanted_from = request.query_params.get("To"), request.query_params.get("From")
        messages = [
            m for m in messages
            if (wanted_to is None or m["to"] == wanted_to)
            and (wanted_from is None or m["from"] == wanted_from)
        ]
        return JSONResponse(
            {
                "messages": messages,
                "end": max(len(messages) - 1, 0),
                "first_page_uri": f"{uri}?PageSize=50&Page=0",
                "next_page_uri": None,
                "page": 0,
                "page_size": 50,
                "previous_page_uri": None,
                "start": 0,
                "uri": f"{uri}?PageSize=50&Page=0",
            }
        )

    async def _fetch(self, request: Request) -> Response:
        denied = self._authenticate(request)
        if denied is not None:
            return denied
        sid = request.path_params["sid"]
        for message in self.messages:
            if message["sid"] == sid:
                return JSONResponse(message)
        return _error(
            404,
            20404,
            f"The requested resource /{API_VERSION}/Accounts/"
            f"{self.account_sid}/Messages/{sid}.json was not found",
        )

    # -- internals ------------------------------------------------------------

    def _authenticate(self, request: Request) -> Response | None:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        authorized = request.headers.get("authorization") == f"Basic {expected}"
        if not authorized or request.path_params.get("account_sid") != self.account_sid:
            return _error(
                401,
                20003,
                "Authenticate",
                extra={"detail": "Your AccountSid or AuthToken was incorrect."},
            )
        return None

    def _resource(self, form: dict[str, str]) -> dict[str, Any]:
        sid = "SM" + secrets.token_hex(16)
        now = format_datetime(datetime.now(UTC), usegmt=True)
        body = form["Body"]
        gsm = all(char in _GSM7 for char in body)
        single, multi = (160, 153) if gsm else (70, 67)
        segments = 1 if len(body) <= single else -(-len(body) // multi)
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": str(segments),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "accepted" if form.get("MessagingServiceSid") else "queued",
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            "to": form["To"],
            "uri": uri,
            "status_callback": form.get("StatusCallback"),
        }

    async def _post_callbacks(self, url: str, resource: dict[str, Any], final: str) -> None:
        validator = RequestValidator(self.auth_token)
        async with httpx.AsyncClient(timeout=5.0) as client:
            for status in ("queued", "sent", final):
                await asyncio.sleep(self.callback_delay)
                params = {
                    "AccountSid": self.account_sid,
                    "ApiVersion": API_VERSION,
                    "From": resource["from"] or "",
                    "MessageSid": resource["sid"],
                    "MessageStatus": status,
                    "SmsSid": resource["sid"],
                    "SmsStatus": status,
                    "To": resource["to"],
                }
                if resource["messaging_service_sid"]:
                    params["MessagingServiceSid"] = resource["messaging_service_sid"]
                if status == "undelivered":
                    params["ErrorCode"] = "30003"
                signature = validator.compute_signature(url, params)
                code: int | None
                try:
                    response = await client.post(
                        url,
                        data=params,
                        headers={"X-Twilio-Signature": signature, "User-Agent": "TwilioProxy/1.1"},
                    )
                    code = response.status_code
                except httpx.HTTPError:
                    code = None
                self.callbacks.append(CallbackAttempt(url, params, signature, code))


def _error(
    status: int,
    code: int,
    message: str,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
        **(extra or {}),
    }
    return JSONResponse(body, status_code=status, headers=headers)
