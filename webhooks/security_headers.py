"""Security headers on every response, and the same-origin check for the pages' forms.

A pure ASGI middleware (no per-request task or body buffering): each HTML
response, a friendly error page or a sandbox page alike, gets a strict CSP
(nothing from another host, no inline script, no framing), no-referrer, no
sniffing and no caching; a route that needs another CSP sets its own, which
is kept. Answer, unsubscribe and sandbox forms refuse cross-site POSTs with
:func:`is_cross_site`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
_ALWAYS = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"))
_HTML = ((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
         (b"x-frame-options", b"DENY"), (b"cache-control", b"no-store"))


class SecurityHeaders:
    """Adds the headers a response does not set itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                html = any(name.lower() == b"content-type" and value.startswith(b"text/html")
                           for name, value in headers)
                for name, value in (*_ALWAYS, *(_HTML if html else ())):
                    if name not in present:
                        headers.append((name, value))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def is_cross_site(request: Request, public_url: str) -> bool:
    """Whether a browser says this form POST comes from another site.

    ``Sec-Fetch-Site`` decides when sent (every current browser). Older ones
    send ``Origin``: ``null`` is what our own pages produce under
    ``Referrer-Policy: no-referrer``; any other origin must be ours. A POST with
    neither header is not from a browser page (RFC 8058 one-click unsubscribe,
    curl): there is no victim's session to ride, so it passes.
    """
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site not in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return False
    return _origin(origin) not in {_origin(public_url), _origin(str(request.base_url))}


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()
