"""Dashboard pages: login, every page renders for each role, forms post → redirect → get."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.services.accounts import create_trainer, hash_api_key, invitation_mail, reset_mail
from engine.store.models import (
    ApiKey,
    Delivery,
    Enrollment,
    Learner,
    LearnerNote,
    Ticket,
    Trainer,
    TrainingSession,
)
from tests.support.dashboard_client import csrf_of, login, post_form
from tests.support.dashboard_support import Seeded, seed_dashboard
from tests.support.web_support import NOW
from webhooks.dashboard.render import Formats


@pytest.fixture
async def seeded(session_maker: async_sessionmaker[AsyncSession]) -> Seeded:
    return await seed_dashboard(session_maker, now=NOW)


@pytest.fixture
async def web(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
        yield c


def _pages(s: Seeded) -> list[str]:
    return ["/dashboard/", "/dashboard/?period=all&q=manager", f"/dashboard/sessions/{s.a.id}",
            f"/dashboard/learners/{s.a.learner_ids[0]}", "/dashboard/inbox", "/dashboard/inbox?state=all",
            f"/dashboard/inbox/{s.a.ticket_ids[0]}", "/dashboard/at-risk", "/dashboard/tasks",
            "/dashboard/alerts", f"/dashboard/exports/sessions/{s.a.id}.csv", "/dashboard/exports/inbox.csv"]


async def test_anonymous_visitors_are_sent_to_the_login_page(web: httpx.AsyncClient, seeded: Seeded) -> None:
    response = await web.get(f"/dashboard/sessions/{seeded.a.id}")
    assert response.status_code == 303
    assert response.headers["location"] == f"/dashboard/login?next=/dashboard/sessions/{seeded.a.id}"


@pytest.mark.parametrize("role", ["trainer", "quality"])
async def test_every_page_renders_for_each_role(web: httpx.AsyncClient, seeded: Seeded, role: str) -> None:
    response = await login(web, seeded.emails[role])
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" in cookie
    for path in _pages(seeded):
        page = await web.get(path)
        assert page.status_code == 200, (path, page.text[:500])
    overview = (await web.get("/dashboard/")).text
    assert "Manager coach — Lyon" in overview
    assert ("Manager coach — Nantes" in overview) == (role == "quality")
    session = (await web.get(f"/dashboard/sessions/{seeded.a.id}")).text
    assert "Accueil" in session and "low_rating" not in session
    assert '<mark class="flag">' in session  # "Déçu" highlighted in the verbatims


async def test_forms_redirect_and_show_errors_beside_fields(web: httpx.AsyncClient, seeded: Seeded,
                                                            session_maker: async_sessionmaker[AsyncSession]) -> None:
    await login(web, seeded.emails["trainer"])
    learner = f"/dashboard/learners/{seeded.a.learner_ids[0]}"
    empty = await post_form(web, learner, f"{learner}/notes", {"body": "  "})
    assert empty.status_code == 422 and 'id="body-error"' in empty.text
    saved = await post_form(web, learner, f"{learner}/notes", {"body": "Appelée : tout va bien"})
    assert saved.status_code == 303 and saved.headers["location"].endswith("ok=saved")
    ticket_id = seeded.a.ticket_ids[0]
    ticket_page = f"/dashboard/inbox/{ticket_id}"
    answered = await post_form(web, ticket_page, f"{ticket_page}/answer",
                               {"text": "Votre attestation part demain.", "close": "0"})
    assert answered.status_code == 303
    again = await post_form(web, ticket_page, f"{ticket_page}/answer",
                            {"text": "Votre attestation part demain. ", "close": "0"})
    assert again.status_code == 303  # a double submit: nothing sent twice (checked below)
    triaged = await post_form(web, ticket_page, f"{ticket_page}/triage",
                              {"category": "reclamation", "assignee": str(seeded.trainer_a)})
    assert triaged.status_code == 303
    async with session_maker() as db:
        ticket = await db.get(Ticket, ticket_id)
        assert ticket is not None
        assert (ticket.status, ticket.category, ticket.assignee_id) == ("answered", "reclamation", seeded.trainer_a)
        assert ticket.first_response_at is not None
        sent = (await db.exec(select(Delivery).where(col(Delivery.step_id) == "ticket"))).all()
        assert [d.rendered for d in sent] == [{"body": "Votre attestation part demain."}]
        notes = (await db.exec(select(LearnerNote))).all()
        assert [n.body for n in notes] == ["Appelée : tout va bien"]


async def test_the_answer_form_s_key_makes_a_double_submit_one_answer_and_a_new_form_another(
        web: httpx.AsyncClient, seeded: Seeded, session_maker: async_sessionmaker[AsyncSession]) -> None:
    await login(web, seeded.emails["trainer"])
    ticket_page = f"/dashboard/inbox/{seeded.a.ticket_ids[0]}"

    async def form_fields() -> dict[str, str]:
        html = (await web.get(ticket_page)).text
        key = re.search(r'name="answer_key" value="([^"]+)"', html)
        assert key is not None, "the answer form carries no key"
        return {"csrf": csrf_of(html), "answer_key": key.group(1), "text": "Merci, c'est noté.", "close": "0"}

    first = await form_fields()
    for _ in range(2):  # the same form, posted twice
        assert (await web.post(f"{ticket_page}/answer", data=first)).status_code == 303
    second = await form_fields()
    assert second["answer_key"] != first["answer_key"]
    assert (await web.post(f"{ticket_page}/answer", data=second)).status_code == 303
    async with session_maker() as db:
        sent = (await db.exec(select(Delivery).where(col(Delivery.step_id) == "ticket"))).all()
        assert [d.rendered for d in sent] == [{"body": "Merci, c'est noté."}] * 2


async def test_a_quality_manager_assigns_sessions_and_manages_api_keys(
        web: httpx.AsyncClient, seeded: Seeded, session_maker: async_sessionmaker[AsyncSession]) -> None:
    await login(web, seeded.emails["quality"])
    moved = await post_form(web, f"/dashboard/sessions/{seeded.b.id}", f"/dashboard/sessions/{seeded.b.id}/trainer",
                            {"trainer": str(seeded.trainer_a)})
    assert moved.status_code == 303
    created = await post_form(web, "/dashboard/team", "/dashboard/team/apikeys",
                              {"key_name": "CRM", "key_trainer": str(seeded.trainer_b)})
    assert created.status_code == 200
    plaintext = re.search(r"<code>(anc_[^<]+)</code>", created.text)
    assert plaintext is not None
    assert plaintext.group(1) not in (await web.get("/dashboard/team")).text  # shown once
    revoked = await post_form(web, "/dashboard/team", f"/dashboard/team/apikeys/{seeded.api_key_id}/revoke", {})
    assert revoked.status_code == 303
    async with session_maker() as db:
        training = await db.get(TrainingSession, seeded.b.id)
        key = await db.get(ApiKey, seeded.api_key_id)
        assert training is not None and training.trainer_id == seeded.trainer_a
        assert key is not None and key.revoked_at is not None
        assert [k.key_hash for k in (await db.exec(select(ApiKey).where(col(ApiKey.name) == "CRM"))).all()] == [
            hash_api_key(plaintext.group(1))]
    await web.post("/dashboard/logout", data={"csrf": csrf_of((await web.get("/dashboard/")).text)})
    await login(web, seeded.emails["trainer"])
    assert "Manager coach — Nantes" in (await web.get("/dashboard/")).text  # now theirs


async def test_password_reset_by_signed_link_and_invitation(
        web: httpx.AsyncClient, app: FastAPI, seeded: Seeded, session_maker: async_sessionmaker[AsyncSession]) -> None:
    settings = app.state.ancrage.settings
    async with session_maker() as db:
        trainer = await db.get(Trainer, seeded.trainer_a)
        assert trainer is not None
        link = reset_mail(settings, trainer).link
        invited = await create_trainer(db, email="nouveau@test.local", name="Nouveau", now=NOW)
        await db.commit()
        invitation = invitation_mail(settings, invited).link
    path = link.removeprefix(settings.public_url)
    forgot = await post_form(web, "/dashboard/forgot", "/dashboard/forgot", {"email": "nobody@test.local"})
    assert forgot.status_code == 200 and "un lien vient d" in forgot.text
    short = await post_form(web, path, path, {"password": "court"})
    assert short.status_code == 422 and "10 caractères" in short.text
    done = await post_form(web, path, path, {"password": "un-nouveau-mot-de-passe"})
    assert done.status_code == 303
    assert (await web.get(path)).status_code == 410  # used: the password stamp changed
    assert (await login(web, seeded.emails["trainer"], "un-nouveau-mot-de-passe")).status_code == 303
    assert (await web.get(path.replace("/reset/", "/reset/x"))).status_code == 410
    invite_path = invitation.removeprefix(settings.public_url)
    assert (await post_form(web, invite_path, invite_path, {"password": "mot-de-passe-choisi"})).status_code == 303
    assert (await login(web, "nouveau@test.local", "mot-de-passe-choisi")).status_code == 303


async def test_english_accounts_read_english_with_their_formats(
        web: httpx.AsyncClient, seeded: Seeded, session_maker: async_sessionmaker[AsyncSession]) -> None:
    async with session_maker() as db:
        trainer = await db.get(Trainer, seeded.trainer_a)
        assert trainer is not None
        trainer.locale, trainer.timezone = "en", "America/New_York"
        db.add(trainer)
        await db.commit()
    await login(web, seeded.emails["trainer"])
    overview = (await web.get("/dashboard/")).text
    assert "Overview" in overview and "Response rate" in overview and "Vue d'ensemble" not in overview
    french = Formats("fr", "Europe/Paris")
    english = Formats("en", "America/New_York")
    assert french.pct(0.125) == "12\u00a0%" or french.pct(0.125) == "13\u202f%" or "%" in french.pct(0.125)
    assert french.num(1234.5) == "1\u202f234,5"
    assert french.dt(NOW) == "4 mars 2025 10:30"
    assert english.dt(NOW) == "4 Mar 2025 04:30"


async def test_learner_actions_and_the_message_to_a_whole_session(
        web: httpx.AsyncClient, seeded: Seeded, session_maker: async_sessionmaker[AsyncSession]) -> None:
    await login(web, seeded.emails["trainer"])
    learner_id, enrollment_id = seeded.a.learner_ids[1], seeded.a.enrollment_ids[1]
    learner = f"/dashboard/learners/{learner_id}"
    for action in ("pause", "resume", "stop"):
        done = await post_form(web, learner, f"{learner}/enrollments/{enrollment_id}", {"action": action})
        assert done.status_code == 303 and done.headers["location"].endswith("ok=saved"), action
    marked = await post_form(web, learner, f"{learner}/at-risk", {"at_risk": "1", "reason": "Ne répond plus"})
    assert marked.status_code == 303
    assert "Ne répond plus" in (await web.get("/dashboard/at-risk")).text
    session = f"/dashboard/sessions/{seeded.a.id}"
    empty = await post_form(web, session, f"{session}/message", {"text": ""})
    assert empty.status_code == 422 and 'id="text-error"' in empty.text
    sent = await post_form(web, session, f"{session}/message", {"text": "Le support promis est en ligne."})
    assert sent.status_code == 303
    async with session_maker() as db:
        enrollment = await db.get(Enrollment, enrollment_id)
        row = await db.get(Learner, learner_id)
        assert enrollment is not None and enrollment.status == "stopped"
        assert row is not None and (row.at_risk, row.at_risk_reason) == (True, "Ne répond plus")
        messages = (await db.exec(select(Delivery).where(col(Delivery.step_id) == "dashboard-message"))).all()
        # Every learner of the session once, except the one whose enrolment was just stopped.
        assert sorted(m.learner_id for m in messages) == sorted(set(seeded.a.learner_ids) - {learner_id})
        assert {m.due_at for m in messages} == {NOW} and all(m.channels == ["push", "sms", "email"] for m in messages)
