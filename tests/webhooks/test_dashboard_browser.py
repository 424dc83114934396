"""The dashboard in a real browser (Debian's chromium driven by Playwright): each role logs in and
opens every page; a trainer answers a ticket and the learner receives it on the fake Twilio.

The app is served by uvicorn on a free loopback port (its own thread and event loop); screenshots
go to ``test-artifacts/dashboard/`` for a human to look at.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.async_api import Page, async_playwright

from engine.fakes.fake_twilio import FakeTwilio
from engine.fakes.server import run_in_thread
from engine.services.bootstrap import build_runtime, close_runtime
from engine.services.dispatch import send_batch
from engine.services.scheduler import claim_batches
from engine.settings import PROJECT_ROOT, Settings
from engine.store.db import create_engine, session_factory
from engine.store.migrate import upgrade_async
from tests.support.dashboard_support import PASSWORD, Seeded, seed_dashboard
from webhooks.app import create_app

NOW = datetime(2025, 3, 4, 9, 30, tzinfo=UTC)  # a Tuesday morning in Paris: inside the send window
ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "dashboard"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SENDER = "+33700000009"


@dataclass
class Served:
    url: str
    settings: Settings
    twilio: FakeTwilio
    seeded: Seeded
    app: FastAPI


@pytest.fixture
def twilio() -> Iterator[tuple[FakeTwilio, str]]:
    fake = FakeTwilio(send_callbacks=False)
    with run_in_thread(fake.app) as url:
        yield fake, url


@pytest.fixture
async def served(tmp_path: Path, twilio: tuple[FakeTwilio, str]) -> AsyncIterator[Served]:
    fake, twilio_url = twilio
    settings = Settings(DATABASE_URL=f"sqlite:///{tmp_path / 'browser.sqlite3'}", REDIS_URL=None,
                        data_dir=tmp_path, public_url="http://127.0.0.1", secret_key="browser-test-secret-" + "k9Zx" * 8,
                        sandbox=False, twilio_account_sid=fake.account_sid, twilio_auth_token=fake.auth_token,
                        twilio_from=SENDER, twilio_api_base=twilio_url, twilio_rate_per_second=1000.0)
    engine = create_engine(settings)
    await upgrade_async(engine)
    seeded = await seed_dashboard(session_factory(engine), now=NOW, learners=12, learners_b=6)
    await engine.dispose()

    async def enqueue(function: str, argument: int) -> None:
        return None

    app = create_app(settings, enqueue=enqueue, migrate=False)
    with _serve(app) as url:
        app.state.ancrage.runtime.clock = lambda: NOW
        yield Served(url=url, settings=settings, twilio=fake, seeded=seeded, app=app)


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class _serve:
    """uvicorn in a thread with the app's lifespan (which builds the runtime in that thread's loop)."""

    def __init__(self, app: FastAPI) -> None:
        self.sock = _free_socket()
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "app did not start"
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


async def _login(page: Page, served: Served, email: str) -> None:
    await page.goto(f"{served.url}/dashboard/login")
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{served.url}/dashboard/")


async def _shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def _send_due(settings: Settings) -> None:
    """What the worker's tick does for messages due now: claim them and send them."""
    rt = await build_runtime(settings, clock=lambda: NOW)
    batches: list[list[int]] = []

    async def enqueue(key: str, ids: list[int]) -> bool:
        batches.append(ids)
        return True

    try:
        await claim_batches(rt, now=NOW, enqueue=enqueue)
        for ids in batches:
            await send_batch(rt, ids)
    finally:
        await close_runtime(rt)


async def test_each_role_opens_every_page_and_a_trainer_answers_a_ticket(served: Served) -> None:
    s = served.seeded
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1360, "height": 900}, locale="fr-FR")
            page = await context.new_page()
            external: list[str] = []
            page.on("request", lambda r: external.append(r.url) if not r.url.startswith(served.url) else None)
            await page.goto(f"{served.url}/dashboard/login")
            await _shoot(page, "01-login")
            await _login(page, served, s.emails["trainer"])
            await _shoot(page, "02-overview-trainer")
            assert await page.locator("text=Manager coach — Lyon").count() >= 1
            assert await page.locator("text=Manager coach — Nantes").count() == 0
            for name, path in (("03-session", f"/dashboard/sessions/{s.a.id}"),
                               ("04-learner", f"/dashboard/learners/{s.a.learner_ids[3]}"),
                               ("05-inbox", "/dashboard/inbox"), ("07-at-risk", "/dashboard/at-risk"),
                               ("08-tasks", "/dashboard/tasks"), ("09-alerts", "/dashboard/alerts")):
                response = await page.goto(served.url + path)
                assert response is not None and response.status == 200, path
                await _shoot(page, name)
            # Answer a ticket: the FAQ suggestion fills the box in one click, then send.
            ticket_id = s.a.ticket_ids[0]
            await page.goto(f"{served.url}/dashboard/inbox/{ticket_id}")
            await page.click("text=Utiliser cette réponse")
            assert "attestation" in await page.input_value("#text")
            await page.fill("#text", "Bonjour, votre attestation part aujourd'hui par e-mail.")
            await page.click("button[name=close][value='0']")
            await page.wait_for_url(f"**/dashboard/inbox/{ticket_id}?ok=answered")
            assert await page.locator("text=Réponse envoyée à l'apprenant.").count() == 1
            await _shoot(page, "06-ticket-answered")
            # Cross-trainer: the other trainer's session is a 404 page.
            response = await page.goto(f"{served.url}/dashboard/sessions/{s.b.id}")
            assert response is not None and response.status == 404
            await page.click("text=Déconnexion")
            await page.wait_for_url("**/dashboard/login")
            await context.close()

            context = await browser.new_context(viewport={"width": 1360, "height": 900}, locale="fr-FR")
            page = await context.new_page()
            page.on("request", lambda r: external.append(r.url) if not r.url.startswith(served.url) else None)
            await _login(page, served, s.emails["quality"])
            assert await page.locator("text=Manager coach — Nantes").count() >= 1
            await _shoot(page, "10-overview-quality")
            for name, path in (("11-session-b", f"/dashboard/sessions/{s.b.id}"), ("12-team", "/dashboard/team"),
                               ("13-inbox-quality", "/dashboard/inbox?state=all")):
                response = await page.goto(served.url + path)
                assert response is not None and response.status == 200, path
                await _shoot(page, name)
            # The quality manager's registers, from the dashboard's navigation.
            await page.goto(f"{served.url}/dashboard/")
            await page.click("header nav >> text=Qualité")
            await page.wait_for_url("**/dashboard/quality/ameliorations")
            for name, path in (("15-quality-improvements", "/dashboard/quality/ameliorations"),
                               ("16-quality-complaints", "/dashboard/quality/reclamations"),
                               ("17-quality-testimonials", "/dashboard/quality/temoignages"),
                               ("18-quality-publication", "/dashboard/quality/publication"),
                               ("19-quality-evidence", "/dashboard/quality/preuves")):
                response = await page.goto(served.url + path)
                assert response is not None and response.status == 200, path
                assert await page.locator("header.topbar").count() == 1, path
                await _shoot(page, name)
            # An action recorded from the register's form (CSRF token included) shows in the register.
            await page.goto(f"{served.url}/dashboard/quality/ameliorations")
            await page.select_option("#source_kind", "ticket")
            await page.fill("#source_id", str(s.a.ticket_ids[0]))
            await page.fill("#finding", "Supports reçus en retard")
            await page.fill("#decision", "Envoyer les supports la veille de la session")
            await page.click("text=Créer")
            await page.wait_for_url("**/dashboard/quality/ameliorations?ok=saved")
            assert await page.locator("text=Envoyer les supports la veille de la session").count() == 1
            # The API documentation works offline too (vendored Swagger UI, no CDN).
            await page.goto(f"{served.url}/docs")
            await page.get_by_text("/api/v1/tickets", exact=True).first.wait_for(timeout=15_000)
            await _shoot(page, "14-api-docs")
            await context.close()
            assert external == []
        finally:
            await browser.close()

    await asyncio.sleep(0)
    await _send_due(served.settings)
    sent = [(m["to"], m["body"]) for m in served.twilio.messages]
    assert sent == [("+336120100000", "Bonjour, votre attestation part aujourd'hui par e-mail.")]
