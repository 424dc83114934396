"""Dashboard security: a second trainer gets 404 everywhere on the first trainer's data (walked from
the route table), a POST without its CSRF token is a 403, the sixth wrong password locks the account,
and a page's SQL query count does not grow with the number of learners."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import event
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.services.accounts import MAX_FAILED_LOGINS, LoginFailure, authenticate
from engine.services.improvements import create_action
from engine.services.runtime import Runtime
from engine.store import models
from engine.store.models import Trainer
from tests.support.dashboard_client import csrf_of, login
from tests.support.dashboard_support import PASSWORD, Seeded, grow_session, seed_dashboard
from tests.support.web_support import NOW
from webhooks.dashboard import ROUTERS


@pytest.fixture
async def seeded(session_maker: async_sessionmaker[AsyncSession]) -> Seeded:
    return await seed_dashboard(session_maker, now=NOW)


@pytest.fixture
async def web(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
        yield c


#: Routes with no row of a trainer in their path (public link pages, lists scoped by the viewer).
_NOT_ID_ROUTES = {"token"}


async def _ids_of_first_trainer(s: Seeded, maker: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    """Rows of the first trainer's session, and quality rows (an action from its ticket, a testimonial)."""
    async with maker() as db:
        action = await create_action(db, source_kind="ticket", source_id=s.a.ticket_ids[0], finding="Support absent",
                                     decision="Envoyer le support", now=NOW, session_id=s.a.id)
        testimonial = models.Testimonial(learner_id=s.a.learner_ids[0], session_id=s.a.id, text="Utile", scope="website",
                                  named=False, consent_at=NOW)
        db.add(testimonial)
        await db.commit()
        action_id, testimonial_id = action.id or 0, testimonial.id or 0
    return {"session_id": s.a.id, "learner_id": s.a.learner_ids[0], "ticket_id": s.a.ticket_ids[0],
            "alert_id": s.a.alert_ids[0], "task_id": s.a.task_ids[0], "enrollment_id": s.a.enrollment_ids[0],
            "key_id": s.api_key_id, "action_id": action_id, "testimonial_id": testimonial_id}


def _dashboard_routes() -> list[tuple[str, str, list[str]]]:
    routes = []
    for route in (r for router in ROUTERS for r in router.routes):
        if isinstance(route, APIRoute):
            params = re.findall(r"{(\w+)}", route.path)
            for method in sorted(route.methods or ()):
                routes.append((method, route.path, params))
    return routes


async def test_a_second_trainer_gets_404_on_every_route_of_the_first_trainers_rows(
        app: FastAPI, web: httpx.AsyncClient, seeded: Seeded,
        session_maker: async_sessionmaker[AsyncSession]) -> None:
    ids = await _ids_of_first_trainer(seeded, session_maker)
    await login(web, seeded.emails["other"])
    token = csrf_of((await web.get("/dashboard/")).text)
    walked = 0
    for method, path, params in _dashboard_routes():
        quality_page = path.startswith("/dashboard/quality")  # a trainer may not see these at all
        if (not params and not quality_page) or set(params) & _NOT_ID_ROUTES:
            continue
        missing = [p for p in params if p not in ids]
        assert not missing, f"{path}: no id of the first trainer for {missing}; extend the table"
        url = path.format(**ids) + ("?start=2025-01-01&end=2025-03-01" if path.endswith(".zip") else "")
        if method == "GET":
            response = await web.get(url)
        else:
            response = await web.post(url, data={"csrf": token, "text": "x", "body": "x", "action": "stop",
                                                 "category": "question", "at_risk": "1", "done": "1"})
        assert response.status_code == 404, (method, url, response.status_code)
        walked += 1
    assert walked >= 29  # the dashboard's id routes and every quality-manager route
    # Lists are scoped too: the first trainer's learners, tickets and sessions never show.
    assert (await web.get("/dashboard/team")).status_code == 404
    inbox_csv = (await web.get("/dashboard/exports/inbox.csv")).text
    overview = (await web.get("/dashboard/?period=all")).text
    assert "Manager coach — Lyon" not in overview and "Manager coach — Nantes" in overview
    exported = {int(row.split(";", 1)[0]) for row in inbox_csv.lstrip("\ufeff").splitlines()[1:] if row}
    assert exported == set(seeded.b.ticket_ids) and seeded.b.ticket_ids


async def test_a_post_without_its_csrf_token_is_refused(web: httpx.AsyncClient, seeded: Seeded) -> None:
    await login(web, seeded.emails["trainer"])
    path = f"/dashboard/learners/{seeded.a.learner_ids[0]}/notes"
    assert (await web.post(path, data={"body": "hello"})).status_code == 403
    assert (await web.post(path, data={"body": "hello", "csrf": "forged"})).status_code == 403
    assert (await web.post("/dashboard/login", data={"email": seeded.emails["trainer"],
                                                     "password": PASSWORD})).status_code == 403
    token = csrf_of((await web.get("/dashboard/")).text)
    assert (await web.post(path, data={"body": "hello", "csrf": token})).status_code == 303


async def test_the_sixth_wrong_password_locks_the_account(web: httpx.AsyncClient, seeded: Seeded,
                                                         session_maker: async_sessionmaker[AsyncSession]) -> None:
    email = seeded.emails["trainer"]
    for _ in range(MAX_FAILED_LOGINS):
        response = await login(web, email, "wrong-password")
        assert response.status_code == 401 and "incorrect" in response.text
    sixth = await login(web, email, "wrong-password")
    assert sixth.status_code == 423 and "verrouillé" in sixth.text
    # Locked: even the right password is refused, until the lock ends.
    assert (await login(web, email)).status_code == 423
    async with session_maker() as db:
        trainer = await db.get(Trainer, seeded.trainer_a)
        assert trainer is not None and trainer.locked_until is not None
        later = trainer.locked_until + timedelta(seconds=1)
        assert isinstance(await authenticate(db, email=email, password=PASSWORD, now=later), Trainer)
        assert await authenticate(db, email="nobody@test.local", password="x", now=later) is LoginFailure.INVALID


async def test_page_query_count_does_not_grow_with_learners(
        app: FastAPI, web: httpx.AsyncClient, rt: Runtime, seeded: Seeded,
        session_maker: async_sessionmaker[AsyncSession]) -> None:
    await login(web, seeded.emails["quality"])
    pages = ["/dashboard/?period=all", f"/dashboard/sessions/{seeded.a.id}",
             f"/dashboard/learners/{seeded.a.learner_ids[0]}", "/dashboard/inbox", "/dashboard/at-risk",
             "/dashboard/tasks", "/dashboard/alerts", f"/dashboard/inbox/{seeded.a.ticket_ids[0]}",
             f"/dashboard/exports/sessions/{seeded.a.id}.csv"]
    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    async def measure() -> dict[str, int]:
        counts = {}
        for path in pages:
            statements.clear()
            assert (await web.get(path)).status_code == 200, path
            counts[path] = len(statements)
        return counts

    event.listen(rt.engine.sync_engine, "before_cursor_execute", count)
    try:
        small = await measure()
        await grow_session(session_maker, seeded.a, trainer_id=seeded.trainer_a, now=NOW, count=45)
        assert len(seeded.a.learner_ids) == 50
        large = await measure()
    finally:
        event.remove(rt.engine.sync_engine, "before_cursor_execute", count)
    assert large == small
    assert max(small.values()) <= 30
