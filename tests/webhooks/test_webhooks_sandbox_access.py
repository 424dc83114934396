"""The sandbox pages answer this machine only: not a remote client, not one relayed by a proxy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.commands.processes import sandbox_warning
from engine.services.runtime import Runtime
from tests.support.web_support import Recorder, make_settings
from webhooks.app import create_app

REMOTE = ("203.0.113.9", 41000)
LOCAL = ("127.0.0.1", 41000)


async def _status(store_url: str, tmp_path: Path, rt: Runtime, path: str,
                  client: tuple[str, int], headers: dict[str, str] | None = None,
                  **overrides: Any) -> int:
    app = create_app(make_settings(store_url, tmp_path, **overrides), runtime=rt,
                     enqueue=Recorder())
    transport = httpx.ASGITransport(app=app, client=client)
    async with (app.router.lifespan_context(app),
                httpx.AsyncClient(transport=transport, base_url="http://testserver") as http):
        return (await http.get(path, headers=headers or {})).status_code


@pytest.mark.parametrize(("client", "headers", "public", "expected"), [
    (LOCAL, {}, False, 200),
    (("::1", 41000), {}, False, 200),
    (REMOTE, {}, False, 404),
    (LOCAL, {"X-Forwarded-For": "127.0.0.1"}, False, 404),  # a proxy on this machine relaying
    (LOCAL, {"Forwarded": "for=203.0.113.9"}, False, 404),
    (LOCAL, {"X-Real-IP": "127.0.0.1"}, False, 404),
    (REMOTE, {}, True, 200),  # the operator said so explicitly
])
async def test_sandbox_pages_answer_loopback_clients_only(
        store_url: str, tmp_path: Path, rt: Runtime, client: tuple[str, int],
        headers: dict[str, str], public: bool, expected: int) -> None:
    for path in ("/sandbox", "/sandbox/phone/1"):
        status = await _status(store_url, tmp_path, rt, path, client, headers,
                               sandbox_public=public)
        assert status == (404 if path.endswith("/1") else expected), (path, status)


async def test_no_sandbox_pages_outside_the_sandbox(store_url: str, tmp_path: Path,
                                                    rt: Runtime) -> None:
    assert await _status(store_url, tmp_path, rt, "/sandbox", LOCAL, sandbox=False,
                         secret_key="s3cr3t-" + "Zq8wX2pL" * 5) == 404


def test_listening_beyond_loopback_with_the_sandbox_on_prints_a_warning(tmp_path: Path) -> None:
    settings = make_settings("sqlite://", tmp_path)
    for host in ("127.0.0.1", "localhost", "::1"):
        assert sandbox_warning(settings, host) is None
    for host in ("0.0.0.0", "192.168.1.10", "::"):
        warning = sandbox_warning(settings, host)
        assert warning is not None and "/sandbox" in warning and host in warning
    public = sandbox_warning(settings.model_copy(update={"sandbox_public": True}), "0.0.0.0")
    assert public is not None and "ANCRAGE_SANDBOX_PUBLIC" in public
    live = make_settings("sqlite://", tmp_path, sandbox=False, secret_key="live-Zq8wX2pL" * 3)
    assert sandbox_warning(live, "0.0.0.0") is None
