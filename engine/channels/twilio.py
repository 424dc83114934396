"""Twilio SMS and WhatsApp: sending, inbound and status webhooks, signatures.

Everything about Twilio's wire format lives here, both ways, so the webhook
routes stay thin (verify → parse → store → enqueue). Sending uses the real
`twilio` client with its aiohttp-based async HTTP client; `api_base` swaps the
API host so that tests and the demo talk to `engine.fakes.fake_twilio`.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlparse

import aiohttp
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator, add_port, compare, remove_port
from twilio.rest import Client
from twilio.twiml.messaging_response import MessagingResponse

from engine.channels.base import (
    ChannelBase,
    DeliveryStatus,
    InboundMessage,
    OutboundMessage,
    SendResult,
    StatusUpdate,
    permanent,
    transient,
)

TWILIO_API_BASE = "https://api.twilio.com"
WHATSAPP_PREFIX = "whatsapp:"
OPTED_OUT = 21610
# Codes that say this address will never work: bad number, not a mobile,
# not reachable, no permission to send to that region, landline for WhatsApp.
_PERMANENT_ADDRESS_CODES = {21211, 21212, 21408, 21612, 21614, 63003, 63024}
_RATE_LIMITED = 20429
#: How far Twilio's clock may be behind ours when matching ``date_created``.
CLOCK_SKEW = timedelta(minutes=5)
#: Messages to one number read at most by a lookup; more and it gives up (LookupIncomplete).
LOOKUP_LIMIT = 1000
_DEFAULT_RETRY_AFTER = 1.0

_STATUSES: dict[str, DeliveryStatus] = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "sent",
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",
}
#: Statuses Twilio may report that say nothing about our outbound message's fate:
#: inbound ones, and group/RCS ones. Acknowledged and ignored, never an error
#: (Twilio logs every non-2xx answer to a callback as a failure of our webhook).
IGNORED_STATUSES = frozenset({"receiving", "received", "partially_delivered"})

# The twilio client drops response headers when it raises; the HTTP client
# below stashes Retry-After here. A ContextVar is safe with concurrent sends
# because each send runs in its own task (the client awaits, never spawns).
_retry_after: ContextVar[float | None] = ContextVar("twilio_retry_after", default=None)


@dataclass(frozen=True)
class TwilioConfig:
    """Account and addressing. Give `messaging_service_sid` or `from_number`."""

    account_sid: str
    auth_token: str
    messaging_service_sid: str | None = None
    from_number: str | None = None
    whatsapp_from: str | None = None
    status_callback_base: str | None = None
    api_base: str = TWILIO_API_BASE
    timeout: float = 15.0
    concurrency: int = 10


class LookupIncomplete(Exception):
    """Twilio's log could not be read whole: absence of the message is not proven."""


def fold_smart_encoding(text: str) -> str:
    """``text`` with what Twilio's Smart Encoding may rewrite folded away, to compare bodies.

    By Unicode class rather than Twilio's exact table (which changes): every
    quote mark becomes ``'``, every dash ``-``, every space one space, invisible
    format characters vanish, ``…`` is ``...``.
    """
    out: list[str] = []
    for char in text.replace("\u2026", "..."):
        category = unicodedata.category(char)
        if char in "'\"`\u00b4\u02bc\u02ba\u2032\u2033" or category in ("Pi", "Pf") or (
                category == "Ps" and unicodedata.name(char, "").endswith("QUOTATION MARK")):
            out.append("'")
        elif category == "Pd" or char == "\u2212":
            out.append("-")
        elif category == "Zs":
            out.append(" ")
        elif category != "Cf":
            out.append(char)
    return " ".join("".join(out).split())


class _HeaderKeepingHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]
    """Twilio's aiohttp client, remembering Retry-After of the last response.

    It also sends Basic auth as a header: aiohttp deprecates its `auth=` argument.
    """

    async def request(self, *args: Any, **kwargs: Any) -> Response:
        auth = kwargs.pop("auth", None)
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            kwargs["headers"] = {**(kwargs.get("headers") or {}), "Authorization": f"Basic {token}"}
        response: Response = await super().request(*args, **kwargs)
        _retry_after.set(
            _seconds(response.headers.get("Retry-After") if response.headers else None)
        )
        return response


class TwilioChannel(ChannelBase):
    """SMS (name "sms") or WhatsApp (name "whatsapp") through one Twilio account."""

    def __init__(self, config: TwilioConfig, *, name: Literal["sms", "whatsapp"] = "sms") -> None:
        if not (config.messaging_service_sid or config.from_number or config.whatsapp_from):
            raise ValueError("Twilio needs messaging_service_sid, from_number or whatsapp_from")
        self.name = name
        self._config = config
        self._client: Client | None = None
        self._http: _HeaderKeepingHttpClient | None = None
        self._slots = asyncio.Semaphore(max(1, config.concurrency))

    def _twilio(self) -> Client:
        # Built lazily: aiohttp sessions must be created inside the running loop.
        if self._client is None:
            self._http = _HeaderKeepingHttpClient()
            client = Client(
                self._config.account_sid, self._config.auth_token, http_client=self._http
            )
            if self._config.api_base != TWILIO_API_BASE:
                # Edge/region env vars would rewrite the host of our fake.
                client.edge = client.region = None
            # Domain.absolute_url() joins this public attribute with each
            # resource path; twilio-python has no documented host option.
            client.api.base_url = self._config.api_base.rstrip("/")
            self._client = client
        return self._client

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
        self._client = self._http = None

    def _params(self, message: OutboundMessage) -> dict[str, Any]:
        config = self._config
        params: dict[str, Any] = {"to": message.to, "body": message.body}
        if self.name == "whatsapp":
            params["to"] = _whatsapp(message.to)
            if config.whatsapp_from:
                params["from_"] = _whatsapp(config.whatsapp_from)
            else:
                params["messaging_service_sid"] = config.messaging_service_sid
        elif config.messaging_service_sid:
            params["messaging_service_sid"] = config.messaging_service_sid
        else:
            params["from_"] = config.from_number
        if config.status_callback_base:
            params["status_callback"] = status_callback_url(
                config.status_callback_base, message.delivery_id
            )
        return params

    async def send(self, message: OutboundMessage) -> SendResult:
        if not message.to or not message.body:
            return permanent("empty recipient or body", code="empty")
        token = _retry_after.set(None)
        try:
            async with self._slots, asyncio.timeout(self._config.timeout):
                instance = await self._twilio().messages.create_async(**self._params(message))
            return SendResult("accepted", provider_id=instance.sid)
        except (TwilioRestException, TwilioServiceException) as exc:
            return classify_error(exc.status, exc.code, _message(exc), _retry_after.get())
        except TimeoutError:
            return transient("timed out waiting for Twilio", code="timeout")
        except (aiohttp.ClientError, OSError) as exc:
            return transient(f"network error: {type(exc).__name__}", code="network")
        finally:
            _retry_after.reset(token)

    async def find_sent(self, *, to: str, body: str, since: datetime,
                        exclude: Collection[str] = (), until: datetime | None = None) -> str | None:
        """The sid of the message Twilio holds for an attempt to send `body` to `to` at `since`, if any.

        Twilio's Messages API has no idempotency key, so a send whose answer was
        lost (a worker killed mid-call, a timeout) is settled by Twilio's own log:

        - every message *to that number* is listed (no ``DateSent`` filter:
          Twilio sets ``date_sent`` only once a message has left, so one still
          ``accepted`` or ``queued`` would be missed and sent twice);
        - a candidate was created (``date_created``) no earlier than the attempt,
          less :data:`CLOCK_SKEW`, and before ``until`` if given (when another
          delivery of the same body was tried: a copy created after may be its),
          and is not one of ``exclude`` (sids other deliveries already own);
        - bodies are compared after folding what Smart Encoding rewrites (curly
          quotes, guillemets, dashes, ellipsis, unusual spaces), so the stored
          body need not equal the posted one.

        None means Twilio provably has no such message: the caller may send.
        Raises on network errors, and :class:`LookupIncomplete` when the log is
        too long to read whole: the caller must then not send again.
        """
        address = _whatsapp(to) if self.name == "whatsapp" else to
        async with asyncio.timeout(self._config.timeout):
            found = await self._twilio().messages.list_async(to=address, limit=LOOKUP_LIMIT, page_size=200)
        if len(found) >= LOOKUP_LIMIT:
            raise LookupIncomplete(f"more than {LOOKUP_LIMIT} messages to this number")
        earliest = since - CLOCK_SKEW
        wanted = fold_smart_encoding(body)
        candidates = sorted(
            (m for m in found
             if m.sid not in exclude and (m.to or "") == address
             and str(m.direction or "").startswith("outbound")
             and m.date_created is not None and m.date_created >= earliest
             and (until is None or m.date_created < until)),
            key=lambda m: m.date_created)
        for instance in candidates:  # oldest first: the first copy after the attempt is the attempt's
            if fold_smart_encoding(instance.body or "") == wanted:
                return str(instance.sid)
        return None

    async def send_many(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        """Concurrent sends, bounded by `concurrency` to respect Twilio's rate limits."""
        return list(await asyncio.gather(*(self.send(m) for m in messages)))


def classify_error(
    status: int, code: int | None, error: str, retry_after: float | None = None
) -> SendResult:
    """Turn a Twilio API error into a SendResult (why: retry, drop or opt out)."""
    code_text = str(code) if code is not None else str(status)
    if code == OPTED_OUT:
        return permanent(error, code=code_text, opted_out=True)
    if code in _PERMANENT_ADDRESS_CODES:
        return permanent(error, code=code_text)
    if status == 429 or code == _RATE_LIMITED:
        return transient(error, code=code_text, retry_after=retry_after or _DEFAULT_RETRY_AFTER)
    # 5xx, and 401/403 (our credentials, fixable by ops): retrying may succeed.
    if status >= 500 or status in (401, 403):
        return transient(error, code=code_text, retry_after=retry_after)
    return permanent(error, code=code_text)


def status_callback_url(base: str, delivery_id: int) -> str:
    """Our status webhook URL; it carries the delivery id so no lookup by SID is needed."""
    return f"{base.rstrip('/')}/webhooks/twilio/status?d={delivery_id}"


def parse_inbound(form: Mapping[str, str]) -> InboundMessage:
    """Read Twilio's incoming-message webhook form (SMS or WhatsApp)."""
    sender = form.get("From", "")
    sid = form.get("MessageSid") or form.get("SmsMessageSid") or form.get("SmsSid")
    if not sender or not sid:
        raise ValueError("not a Twilio inbound message: From and MessageSid are required")
    whatsapp = sender.startswith(WHATSAPP_PREFIX)
    return InboundMessage(
        provider="twilio",
        provider_id=sid,
        channel="whatsapp" if whatsapp else "sms",
        sender=sender.removeprefix(WHATSAPP_PREFIX),
        recipient=form.get("To", "").removeprefix(WHATSAPP_PREFIX),
        body=form.get("Body", ""),
        media_count=int(form.get("NumMedia", "0") or 0),
    )


def parse_status(form: Mapping[str, str], delivery_id: str | int | None = None) -> StatusUpdate | None:
    """Read a status callback; `delivery_id` is our `d` query parameter.

    None for a status we do not act on (:data:`IGNORED_STATUSES`, or one Twilio
    adds later): the caller acknowledges it and changes nothing. Raises
    ValueError only when the form is not a status callback at all (no MessageSid).
    """
    sid = form.get("MessageSid") or form.get("SmsSid")
    raw = (form.get("MessageStatus") or form.get("SmsStatus") or "").strip().lower()
    if not sid:
        raise ValueError("not a Twilio status callback: MessageSid is required")
    if raw not in _STATUSES:
        return None
    return StatusUpdate(
        provider_id=sid,
        delivery_id=_int_or_none(delivery_id),
        status=_STATUSES[raw],
        error_code=form.get("ErrorCode") or None,
    )


def verify_signature(
    auth_token: str, url: str, params: Mapping[str, str], signature: str | None
) -> bool:
    """Check X-Twilio-Signature against the full URL Twilio called and the POST form.

    What ``RequestValidator.validate`` checks for a form (the URL without its
    port, else with it), with the validator's own ``compute_signature``, but
    stopping at the first match: ``validate`` always computes both HMACs, and a
    webhook's signature is a tenth of its cost.
    """
    if not signature:
        return False
    validator = _validator(auth_token)
    parsed = urlparse(url)
    form = _Form(params)
    return any(compare(validator.compute_signature(candidate, form), signature)
               for candidate in dict.fromkeys((remove_port(parsed), add_port(parsed))))


class _Form(dict[str, str]):
    """A form as the validator's multi-dict (its first branch): a plain dict costs it two
    caught AttributeErrors per field."""

    def getall(self, name: str) -> list[str]:
        return [self[name]]


@functools.lru_cache(maxsize=8)
def _validator(auth_token: str) -> RequestValidator:
    return RequestValidator(auth_token)


def messaging_response(text: str | None = None) -> str:
    """TwiML answering an inbound message: one reply, or an empty <Response/>."""
    response = MessagingResponse()
    if text:
        response.message(text)
    return str(response.to_xml())


def _whatsapp(address: str) -> str:
    return address if address.startswith(WHATSAPP_PREFIX) else WHATSAPP_PREFIX + address


def _message(exc: TwilioRestException | TwilioServiceException) -> str:
    if isinstance(exc, TwilioServiceException):
        return str(exc.detail or exc.title)
    return str(exc.msg)


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _int_or_none(value: str | int | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
