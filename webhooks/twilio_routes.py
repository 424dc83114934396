"""Twilio webhooks: inbound SMS/WhatsApp and delivery status callbacks.

verify → parse (``engine.channels.twilio``) → store raw → enqueue → answer.
The signature is checked against the *public* URL Twilio called
(``settings.public_url`` + path + query), never ``request.url``: behind a
TLS-terminating proxy the app sees ``http://internal-host``, which would make
every genuine signature fail (or, with trusted forwarded headers, let a client
choose the URL that is checked).

Deduplication key: ``MessageSid``. Twilio's ``I-Twilio-Idempotency-Token``
header is stable across retries of one webhook, but so is ``MessageSid``, which
is also what every other view of the message (API, console, status callbacks)
knows; the token is kept in ``raw`` for audit only.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status

from engine.channels.twilio import (
    messaging_response,
    parse_inbound,
    parse_status,
    verify_signature,
)
from engine.jobs import PROCESS_INBOUND_JOB
from engine.settings import Settings
from webhooks.deps import inbound_writer, runtime_of, state_of, status_writer
from webhooks.intake import (
    MAX_ADDRESS,
    MAX_PROVIDER_ID,
    parse_form,
    read_body,
)
from webhooks.queue import enqueue_safely
from webhooks.status_writer import StatusUpdate

router = APIRouter(prefix="/webhooks/twilio", tags=["twilio"])

EMPTY_TWIML = messaging_response()
IDEMPOTENCY_HEADER = "i-twilio-idempotency-token"
_REQUIRED_INBOUND = ("From", "Body", "MessageSid")
_FORBIDDEN: dict[int | str, dict[str, Any]] = {403: {"description": "missing or invalid X-Twilio-Signature"}}


def public_url_of(request: Request, settings: Settings) -> str:
    """The URL Twilio signed: our public base, the path under the app, the raw query."""
    path = request.scope["path"]
    root = request.scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):]
    url = settings.public_url.rstrip("/") + path
    query = request.scope.get("query_string", b"").decode("latin-1")
    return f"{url}?{query}" if query else url


async def signed_form(request: Request, settings: Settings) -> dict[str, str]:
    """The webhook's form, or 413/415/400/403: nothing unverified goes further."""
    form = parse_form(await read_body(request), request.headers.get("content-type"))
    token = settings.twilio_auth_token
    signature = request.headers.get("x-twilio-signature")
    if not token or not verify_signature(token, public_url_of(request, settings), form, signature):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid Twilio signature")
    return form


@router.post("/sms", response_class=Response, responses={
    200: {"content": {"text/xml": {}}, "description": "empty TwiML"}, **_FORBIDDEN})
async def inbound_message(request: Request) -> Response:
    """An SMS or WhatsApp message from a learner (or anyone: unknown senders are stored too).

    The hot path: no dependency injection, the request carries all it needs.
    """
    state, rt, writer = state_of(request), runtime_of(request), inbound_writer(request)
    form = await signed_form(request, state.settings)
    missing = [name for name in _REQUIRED_INBOUND if name not in form]
    if missing:
        raise HTTPException(status.HTTP_400_BAD_REQUEST,
                            f"not a Twilio inbound message: missing {', '.join(missing)}")
    try:
        message = parse_inbound(form)
    except ValueError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    if len(message.provider_id) > MAX_PROVIDER_ID or max(
            len(message.sender), len(message.recipient)) > MAX_ADDRESS:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "MessageSid, From or To too long")
    raw: dict[str, object] = dict(form)
    idempotency = request.headers.get(IDEMPOTENCY_HEADER)
    if idempotency:
        raw["_idempotency_token"] = idempotency[:256]
    event_id = await writer.insert(
        provider=message.provider, provider_id=message.provider_id,
        channel=message.channel, sender=message.sender, recipient=message.recipient or None,
        body=message.body, raw=raw, received_at=rt.now())
    if event_id is not None:
        await enqueue_safely(state.enqueue, PROCESS_INBOUND_JOB, event_id)
    return Response(EMPTY_TWIML, media_type="text/xml")


@router.post("/status", status_code=204, response_class=Response, responses=_FORBIDDEN)
async def status_callback(request: Request) -> Response:
    """A delivery status callback, applied at once.

    Applied in the route rather than stored and queued: it is one guarded
    compare-and-set that only moves a delivery forward, so reordered or repeated
    callbacks are harmless, it involves no learner-facing decision, and a row
    plus a job per callback (four per message) would cost more than the update.
    Callbacks arriving together share one transaction (:mod:`webhooks.status_writer`).
    A callback that beats our own commit of the MessageSid is matched by the
    delivery id in the callback URL (``d``, covered by the signature).
    Statuses we do not act on are acknowledged (204) and ignored, never a 400:
    Twilio would log each as an error of our webhook.
    """
    state, rt = state_of(request), runtime_of(request)
    form = await signed_form(request, state.settings)
    try:
        update = parse_status(form, request.query_params.get("d"))
    except ValueError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    if update is None:  # a status we do not act on (partially_delivered, received...): acknowledged
        return Response(status_code=204)
    if len(update.provider_id) > MAX_PROVIDER_ID:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "MessageSid too long")
    error_code = (update.error_code or "")[:64] or None
    delivery_id = update.delivery_id if update.delivery_id and 0 < update.delivery_id < 2**31 else None
    await status_writer(request).apply(StatusUpdate(
        provider_id=update.provider_id, status=update.status, error_code=error_code,
        delivery_id=delivery_id, at=rt.now()))
    return Response(status_code=204)
