"""A local stand-in for Twilio's Messages REST resource, speaking its wire format.

The real `twilio` client is pointed at this app (see `TwilioConfig.api_base`),
so tests and the demo exercise the real request encoding, Basic auth, error
parsing and signed status callbacks without leaving the machine.
Numbers can be scripted to fail the way Twilio fails.

It behaves as Twilio does where recovery depends on it (the shapes are checked
against recorded responses in ``tests/engine/channels/testdata``):

- a message moves ``accepted`` (through a Messaging Service) → ``queued`` →
  ``sending`` → ``sent`` → ``delivered`` over time (``step_seconds`` apart);
  ``date_created`` is set at once, ``date_sent`` stays null until ``sent``;
  numbers in ``hold_queued`` keep their messages ``queued`` (Twilio has them,
  they have not left);
- the Messages list filters on ``To``, ``From`` and ``DateSent`` (an exact day,
  or ``DateSent<``/``DateSent>``: on or before / on or after, a day or a
  time); a message not yet sent matches no ``DateSent`` filter; newest first,
  in pages (``PageSize``, ``Page``, ``next_page_uri``);
- Smart Encoding (``smart_encoding=True``, or ``SmartEncoded=true`` posted)
  stores the body with typographic characters replaced by GSM-7 ones (curly
  quotes and guillemets → straight quotes, dashes → ``-``, ``…`` → ``...``,
  unusual spaces → space): what Twilio lists is then not what was posted.
"""

from __future__ import annotations

import asyncio
import base64
import re
import secrets
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from functools import cache, cached_property
from typing import Any, Literal
from urllib.parse import urlencode

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
# Twilio's Smart Encoding table (the characters French texts meet), as documented.
SMART_ENCODING = str.maketrans({
    "\u00ab": '"', "\u00bb": '"', "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"',
    "\u2033": '"', "\u02ba": '"', "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'",
    "\u2032": "'", "\u02bc": "'", "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-",
    "\u2014": "-", "\u2015": "-", "\u2212": "-", "\u2026": "...", "\u00a0": " ", "\u2002": " ",
    "\u2003": " ", "\u2009": " ", "\u200a": " ", "\u202f": " ", "\u205f": " ", "\u3000": " ",
    "\u200b": "", "\ufeff": "",
})
#: Outbound statuses in order; a message's life is a prefix of this, then its end.
_LIFE = ("accepted", "queued", "sending", "sent")
#: Keys of our records that Twilio's resource does not have (kept for tests, never served).
_PRIVATE = ("status_callback", "posted_body", "history", "_t0", "_final", "_created")
_MAX_PAGE_SIZE = 1000
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
    #: Seconds between two statuses of a message's life (0: it ends at once).
    step_seconds: float = 0.0
    #: Twilio's clock for ``date_created``/``date_sent`` (tests pass their hand clock).
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    #: The Messaging Service's Smart Encoding setting.
    smart_encoding: bool = False
    #: Numbers whose messages stay ``queued`` (accepted by Twilio, not sent yet).
    hold_queued: set[str] = field(default_factory=set)
    messages: list[dict[str, Any]] = field(default_factory=list)
    callbacks: list[CallbackAttempt] = field(default_factory=list)
    failures: dict[str, Failure] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set, repr=False)
    _client: tuple[asyncio.AbstractEventLoop, httpx.AsyncClient, asyncio.Semaphore] | None = field(
        default=None, repr=False)
    #: ``messages`` by recipient and by sid, brought up to date on each look-up (see :meth:`_indexed`).
    _by_to: dict[str, list[dict[str, Any]]] = field(default_factory=dict, repr=False)
    _by_sid: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    _seen: int = field(default=0, repr=False)

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
        final = "undelivered" if failure == "undelivered" else "delivered"
        resource = self._resource(form, final)
        self.messages.append(resource)
        if self.send_callbacks and form.get("StatusCallback"):
            task = asyncio.create_task(
                self._post_callbacks(form["StatusCallback"], resource, final)
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return JSONResponse(_public(resource), status_code=201)

    async def _list(self, request: Request) -> Response:
        denied = self._authenticate(request)
        if denied is not None:
            return denied
        query = request.query_params
        try:
            size = min(max(int(query.get("PageSize", "50")), 1), _MAX_PAGE_SIZE)
            page = max(int(query.get("Page", "0")), 0)
            candidates = self._indexed().get(query["To"], []) if "To" in query else self.messages
            wanted = [self._advance(m) for m in reversed(candidates)]
            wanted = [m for m in wanted if _listed(m, query)]
        except ValueError as exc:
            return _error(400, 20001, f"Invalid list filter: {exc}")
        filters = {k: v for k, v in query.items() if k in ("To", "From", "DateSent", "DateSent<", "DateSent>")}
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"

        def page_uri(number: int, token: str | None = None) -> str:
            extra = {"PageToken": token} if token else {}
            return f"{uri}?{urlencode({**filters, 'PageSize': size, 'Page': number, **extra})}"

        start = page * size
        chunk = wanted[start:start + size]
        more = start + size < len(wanted)
        return JSONResponse(
            {
                "end": start + max(len(chunk) - 1, 0),
                "first_page_uri": page_uri(0),
                "messages": [_public(m) for m in chunk],
                "next_page_uri": page_uri(page + 1, "PA" + chunk[-1]["sid"]) if more else None,
                "page": page,
                "page_size": size,
                "previous_page_uri": page_uri(page - 1) if page else None,
                "start": start,
                "uri": page_uri(page),
            }
        )

    async def _fetch(self, request: Request) -> Response:
        denied = self._authenticate(request)
        if denied is not None:
            return denied
        sid = request.path_params["sid"]
        self._indexed()
        message = self._by_sid.get(sid)
        if message is not None:
            return JSONResponse(_public(self._advance(message)))
        return _error(
            404,
            20404,
            f"The requested resource /{API_VERSION}/Accounts/"
            f"{self.account_sid}/Messages/{sid}.json was not found",
        )

    # -- internals ------------------------------------------------------------

    def _indexed(self) -> dict[str, list[dict[str, Any]]]:
        """``messages`` by recipient (in the order sent), indexing what was added since the last call.

        A look-up used to scan (and advance) every message: with the tens of thousands of an
        endurance run, the retries' and recovery's look-ups took most of the fake's CPU. A test
        that empties ``messages`` gets the index rebuilt.
        """
        if len(self.messages) < self._seen:
            self._by_to, self._by_sid, self._seen = {}, {}, 0
        for message in self.messages[self._seen:]:
            self._by_to.setdefault(message["to"], []).append(message)
            self._by_sid[message["sid"]] = message
        self._seen = len(self.messages)
        return self._by_to

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

    def _resource(self, form: dict[str, str], final: str) -> dict[str, Any]:
        sid = "SM" + secrets.token_hex(16)
        created = self.clock().astimezone(UTC)
        posted = form["Body"]
        smart = form.get("SmartEncoded", str(self.smart_encoding)).lower() == "true"
        body = posted.translate(SMART_ENCODING) if smart else posted
        gsm = all(char in _GSM7 for char in body)
        single, multi = (160, 153) if gsm else (70, 67)
        segments = 1 if len(body) <= single else -(-len(body) // multi)
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json"
        first = "accepted" if form.get("MessagingServiceSid") else "queued"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": _rfc2822(created),
            "date_sent": None,
            "date_updated": _rfc2822(created),
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
            "status": first,
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            "to": form["To"],
            "uri": uri,
            # Ours, never served: what the harness and the tests look at.
            "status_callback": form.get("StatusCallback"),
            "posted_body": posted,
            "history": [first],
            "_t0": time.monotonic(),
            "_final": final,
            "_created": created,
        }

    def _advance(self, message: dict[str, Any]) -> dict[str, Any]:
        """Moves a message along its life as far as the time elapsed allows (held ones stop at queued)."""
        life = [*_LIFE[_LIFE.index(message["history"][0]):], message["_final"]]
        now = time.monotonic()
        reached = len(life) - 1 if self.step_seconds <= 0 else min(
            int((now - message["_t0"]) / self.step_seconds), len(life) - 1)
        if message["to"].removeprefix("whatsapp:") in self.hold_queued:
            queued = life.index("queued")
            if reached > queued:
                reached = queued
                message["_t0"] = now - queued * self.step_seconds  # resumes from queued once released
        for status in life[len(message["history"]):reached + 1]:
            message["history"].append(status)
            message["status"] = status
            moment = message["_created"] + timedelta(seconds=self.step_seconds * life.index(status))
            message["date_updated"] = _rfc2822(moment)
            if status == "sent":
                message["date_sent"] = _rfc2822(moment)
                message["price"] = f"-{0.0725 * int(message['num_segments']):.4f}"
            if status == "undelivered":
                message["error_code"], message["error_message"] = 30003, "Unreachable destination handset"
        return message

    def _callback_client(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        """One keep-alive client for every status callback, as Twilio's own senders keep connections,
        and the gate that lets :data:`_CALLBACK_CONNECTIONS` callbacks at a time reach it.

        A client per message opened a connection per message: under a burst of sends that was a
        TCP accept and a new HTTP protocol in our web process for every message, and the client's
        construction in the fake's. The gate: httpcore's pool scans every request waiting for a
        connection each time one frees, so thousands of queued callbacks made each one cost the
        whole queue (65 % of the fake's CPU in the endurance run). Bound to the running loop (a
        fake serves one loop at a time; a test may restart it on another). Waiting has no time
        limit: a callback is delayed under load, never dropped by the fake itself.
        """
        loop = asyncio.get_running_loop()
        if self._client is None or self._client[0] is not loop:
            client = httpx.AsyncClient(timeout=httpx.Timeout(5.0, pool=None), verify=_tls(), limits=httpx.Limits(
                max_connections=_CALLBACK_CONNECTIONS, max_keepalive_connections=_CALLBACK_CONNECTIONS))
            self._client = (loop, client, asyncio.Semaphore(_CALLBACK_CONNECTIONS))
        return self._client[1], self._client[2]

    async def _post_callbacks(self, url: str, resource: dict[str, Any], final: str) -> None:
        validator = RequestValidator(self.auth_token)
        client, gate = self._callback_client()
        for status in ("queued", "sent", final):
            await asyncio.sleep(self.callback_delay)
            while status != "queued" and resource["to"].removeprefix("whatsapp:") in self.hold_queued:
                await asyncio.sleep(0.02)
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
                async with gate:
                    response = await client.post(
                        url,
                        data=params,
                        headers={"X-Twilio-Signature": signature, "User-Agent": "TwilioProxy/1.1"},
                    )
                code = response.status_code
            except httpx.HTTPError:
                code = None
            self.callbacks.append(CallbackAttempt(url, params, signature, code))


#: Status callbacks in flight at once, each on a kept-alive connection. Few: httpcore checks every
#: connection of its pool (a ``select`` on each socket) for each request; 32 took a third of the
#: fake's CPU in the endurance run. Eight carry well over a thousand callbacks a second here.
_CALLBACK_CONNECTIONS = 8


@cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every callback client: building one loads the CA bundle, about 18 ms
    of blocked event loop per message, which under a burst of sends held the fake's answers past
    the client's timeout (and so caused retries of messages it had accepted)."""
    return ssl.create_default_context()


def _public(message: dict[str, Any]) -> dict[str, Any]:
    """The resource as Twilio serves it (without our bookkeeping)."""
    return {k: v for k, v in message.items() if k not in _PRIVATE}


def _rfc2822(moment: datetime) -> str:
    """Twilio's date format: ``Thu, 24 Aug 2023 05:01:45 +0000``."""
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0))


def _listed(message: dict[str, Any], query: Any) -> bool:
    """Whether a message passes the list filters Twilio supports (To, From, DateSent and its bounds)."""
    if "To" in query and message["to"] != query["To"]:
        return False
    if "From" in query and message["from"] != query["From"]:
        return False
    bounds = [(k, query[k]) for k in ("DateSent", "DateSent<", "DateSent>") if k in query]
    if not bounds:
        return True
    if message["date_sent"] is None:  # not sent yet: no DateSent filter matches it
        return False
    sent = parsedate_to_datetime(message["date_sent"])
    for key, raw in bounds:
        day, moment = _date_or_time(raw)
        if key == "DateSent" and not (sent.date() == day if moment is None else sent == moment):
            return False
        if key == "DateSent<" and not (sent.date() <= day if moment is None else sent <= moment):
            return False
        if key == "DateSent>" and not (sent.date() >= day if moment is None else sent >= moment):
            return False
    return True


def _date_or_time(raw: str) -> tuple[date, datetime | None]:
    """``YYYY-MM-DD`` (a GMT day) or ``YYYY-MM-DDThh:mm:ssZ`` (an instant); ValueError otherwise."""
    if len(raw) == 10:
        return date.fromisoformat(raw), None
    moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"DateSent needs a time zone: {raw!r}")
    return moment.date(), moment.astimezone(UTC)


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
