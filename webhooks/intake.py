"""Reading provider webhooks safely: a bounded body and a strict form.

The form is parsed with the standard library (bounded, strict UTF-8, no NUL):
malformed input becomes a 4xx here rather than a 500 deeper down. Storing is
:mod:`webhooks.inbound_writer`'s job.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import HTTPException, Request, status
from starlette.requests import ClientDisconnect

MAX_BODY_BYTES = 64 * 1024
MAX_FIELDS = 200
#: Column widths (PostgreSQL enforces them; a longer value must be a 400, not a 500).
MAX_PROVIDER_ID = 128
MAX_ADDRESS = 512

def _bad_request(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_400_BAD_REQUEST, detail)


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refusing (413) more than ``limit`` bytes before reading them all."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise _bad_request("invalid Content-Length")
        if int(declared) > limit:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"body over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"body over {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise _bad_request("client disconnected before sending the whole body") from None
    return b"".join(chunks)



def parse_form(body: bytes, content_type: str | None) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as a dict (last value wins).

    Strict UTF-8, both raw and percent-encoded, and no NUL characters (PostgreSQL
    text cannot hold them): anything else is a 400 rather than a crash later.
    """
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                            "expected application/x-www-form-urlencoded")
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict",
                          max_num_fields=MAX_FIELDS)
    except UnicodeDecodeError:
        raise _bad_request("form is not valid UTF-8") from None
    except ValueError:
        raise _bad_request(f"too many form fields (over {MAX_FIELDS})") from None
    form = dict(pairs)
    if any("\x00" in key or "\x00" in value for key, value in form.items()):
        raise _bad_request("NUL character in form")
    return form
