"""Security headers on every HTML page (errors and sandbox too); no cross-site form POSTs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from playwright.async_api import async_playwright
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.links import sign
from engine.services.compose import UNSUBSCRIBE_PURPOSE
from engine.store.models import Learner
from tests.support.seed import Seed
from tests.support.web_support import NOW, SECRET, inbound_events, served
from tests.webhooks.test_webhooks_pages import answer_token, quiz

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
CROSS_SITE = ({"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
              {"Origin": "https://evil.example"})


def unsubscribe_token(learner_id: int) -> str:
    return sign(SECRET, purpose=UNSUBSCRIBE_PURPOSE, data={"l": learner_id, "c": "email"},
                expires_at=NOW.replace(year=NOW.year + 1))


def assert_secure_html(response: httpx.Response) -> None:
    assert response.headers["content-type"].startswith("text/html"), response.url
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1
                                                                                   ].split(";")[0]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"


async def test_every_html_page_has_the_security_headers(client: httpx.AsyncClient,
                                                         seed: Seed) -> None:
    learner, delivery, _ = await quiz(seed)
    pages = [await client.get(path) for path in (
        f"/r/{answer_token(delivery.id)}", "/r/not-a-token", f"/r/{answer_token(10**6)}",
        f"/u/{unsubscribe_token(learner.id or 0)}", "/u/forged.token", "/sandbox",
        f"/sandbox/phone/{learner.id}")]
    assert sorted({page.status_code for page in pages}) == [200, 400, 404]
    for page in pages:
        assert_secure_html(page)
    health = await client.get("/healthz")
    assert health.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("headers", CROSS_SITE)
async def test_cross_site_form_posts_are_refused(
        client: httpx.AsyncClient, seed: Seed, headers: dict[str, str],
        session_maker: async_sessionmaker[AsyncSession]) -> None:
    learner, delivery, _ = await quiz(seed)
    answer = await client.post(f"/r/{answer_token(delivery.id)}", data={"answer": "A"},
                               headers=headers)
    assert answer.status_code == 403
    assert_secure_html(answer)
    unsubscribe = await client.post(f"/u/{unsubscribe_token(learner.id or 0)}", headers=headers)
    assert unsubscribe.status_code == 403
    sandbox = await client.post(f"/sandbox/phone/{learner.id}", data={"body": "A"},
                                headers=headers)
    assert sandbox.status_code == 403
    assert await inbound_events(session_maker) == []
    async with session_maker() as session:
        row = await session.get(Learner, learner.id)
        assert row is not None and row.opted_out_email_at is None


@pytest.mark.parametrize("headers", [{}, {"Origin": "null"}, {"Sec-Fetch-Site": "same-origin"},
                                     {"Origin": "https://example.org"}])
async def test_same_origin_and_non_browser_posts_pass(
        client: httpx.AsyncClient, seed: Seed, headers: dict[str, str]) -> None:
    learner, delivery, _ = await quiz(seed)
    answer = await client.post(f"/r/{answer_token(delivery.id)}", data={"answer": "A"},
                               headers=headers)
    assert answer.status_code == 200 and "Merci" in answer.text
    unsubscribe = await client.post(f"/u/{unsubscribe_token(learner.id or 0)}", headers=headers)
    assert unsubscribe.status_code == 200


@pytest.fixture
async def base_url(app: FastAPI) -> AsyncIterator[str]:
    async with served(app, log_level="warning") as (url, _):
        yield url


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
async def test_a_browser_answers_on_our_own_page(base_url: str, seed: Seed,
                                                  session_maker: async_sessionmaker[AsyncSession]
                                                  ) -> None:
    """Chromium sends ``Origin: null`` under no-referrer: our own form must still go through."""
    _, delivery, _ = await quiz(seed)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text)
                    if "Content Security Policy" in m.text else None)
            await page.goto(f"{base_url}/r/{answer_token(delivery.id)}")
            await page.click('button[value="B"]')
            await page.wait_for_load_state()
            assert "Merci" in await page.content()
            assert errors == []  # the CSP blocked nothing the page needs
        finally:
            await browser.close()
    [event] = await inbound_events(session_maker)
    assert event.body == "B"
