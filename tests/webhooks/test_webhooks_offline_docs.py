"""``/docs`` works offline: Swagger UI comes from the vendored copy (``webhooks/api_docs.py``),
checked in a real browser with every request to another host aborted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Route, sync_playwright

from engine.fakes.server import run_in_thread
from engine.settings import Settings
from webhooks.api_docs import ASSETS, PREFIX
from webhooks.app import create_app

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """The real app over HTTP (no lifespan: these pages need no database)."""
    settings = Settings(data_dir=tmp_path, database_url=None, redis_url=None, sandbox=True)
    with run_in_thread(create_app(settings)) as url:
        yield url


def test_vendored_files_ship_with_their_licences() -> None:
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "LICENSE"):
        assert (ASSETS / name).stat().st_size > 0, name


def test_docs_page_points_at_local_copies(server: str) -> None:
    html = httpx.get(f"{server}/docs").text
    assert f"{PREFIX}/swagger-ui-bundle.js" in html
    assert "cdn.jsdelivr.net" not in html and "unpkg.com" not in html
    script = httpx.get(f"{server}{PREFIX}/swagger-ui-bundle.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]


def test_docs_render_operations_with_other_hosts_blocked(server: str) -> None:
    blocked: list[str] = []

    def only_loopback(route: Route) -> None:
        url = route.request.url
        if url.startswith(("http://127.0.0.1:", "data:", "blob:")):
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.route("**/*", only_loopback)
            page.goto(f"{server}/docs")
            page.wait_for_selector(".opblock", timeout=15_000)
            operations = page.locator(".opblock-summary-path").all_inner_texts()
        finally:
            browser.close()
    assert any("/webhooks/twilio/sms" in text for text in operations), operations
    assert any("/api/v1/sessions" in text for text in operations), operations
