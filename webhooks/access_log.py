"""Capability tokens never reach the access log.

An answer link (``/r/{token}``), an unsubscribe link (``/u/{token}``), a push
token (``/api/v1/app/devices/{token}``) and any signed value in a query string
are bearer credentials: logged in full, the log becomes a store of them. The
filter rewrites uvicorn's access-log record before any handler formats it.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, urlencode

ACCESS_LOGGER = "uvicorn.access"
REDACTED = "[redacted]"

_TOKEN_PATHS = re.compile(r"^(/r/|/u/|/api/v1/app/devices/)[^/?#]+")
#: Our signed tokens (``payload.mac`` in base64url) wherever they appear.
_SIGNED = re.compile(r"[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}")
_SECRET_PARAMS = frozenset({"token", "t", "sig", "signature", "key", "api_key", "apikey",
                            "access_token", "code"})


def redact_path(path: str) -> str:
    """``path`` (with its query string) with every capability token replaced."""
    base, mark, query = path.partition("?")
    base = _SIGNED.sub(REDACTED, _TOKEN_PATHS.sub(lambda m: m.group(1) + REDACTED, base))
    if not mark:
        return base
    pairs = [(name, REDACTED if name.lower() in _SECRET_PARAMS or _SIGNED.search(value)
              else value) for name, value in parse_qsl(query, keep_blank_values=True)]
    return f"{base}?{urlencode(pairs, safe='[]')}"


class RedactTokens(logging.Filter):
    """Rewrites the path argument of uvicorn's access-log records (and any record's message)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_path(args[2]), *args[3:])
        elif isinstance(record.msg, str) and not args:
            record.msg = _SIGNED.sub(REDACTED, record.msg)
        return True


def install_redaction(logger_name: str = ACCESS_LOGGER) -> None:
    """Adds the filter to the access logger once (idempotent: call wherever uvicorn starts)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, RedactTokens) for f in logger.filters):
        logger.addFilter(RedactTokens())
