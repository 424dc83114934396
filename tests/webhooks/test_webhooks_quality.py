"""The quality manager's screens, behind the dashboard's login: a quality manager opens them from
the dashboard's navigation, a trainer gets the 404 page on every route, a POST without its CSRF
token is a 403; the register's forms redirect after POST; the pack downloads as a ZIP."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.demo.quality_history import seed_history
from engine.services.accounts import create_trainer
from engine.services.runtime import Runtime
from engine.store import models
from tests.support.dashboard_client import csrf_of, login, post_form
from tests.support.dashboard_support import PASSWORD
from tests.support.web_support import NOW

QUALITY, TRAINER = "qualite@exemple.fr", "claire@exemple.fr"
REGISTER = "/dashboard/quality/ameliorations"
ROUTES = [("GET", REGISTER), ("GET", "/dashboard/quality/ameliorations.csv"), ("POST", REGISTER),
          ("POST", f"{REGISTER}/1/statut"), ("POST", f"{REGISTER}/1/efficacite"),
          ("GET", "/dashboard/quality/reclamations"), ("GET", "/dashboard/quality/temoignages"),
          ("POST", "/dashboard/quality/temoignages/1/approuver"), ("GET", "/dashboard/quality/temoignages.csv"),
          ("GET", "/dashboard/quality/temoignages.html"), ("GET", "/dashboard/quality/publication"),
          ("POST", "/dashboard/quality/publication"), ("GET", "/dashboard/quality/preuves"),
          ("GET", "/dashboard/quality/preuves.zip?start=2025-01-01&end=2025-03-01")]


@pytest.fixture
async def web(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://testserver") as c:
        yield c


@pytest.fixture
async def accounts(rt: Runtime, session_maker: async_sessionmaker[AsyncSession]) -> None:
    await seed_history(rt.engine, sessions=2, learners_per_session=6, first_end=NOW - timedelta(days=60))
    async with session_maker() as session, session.begin():
        await create_trainer(session, email=QUALITY, name="Claire Qualité", role="quality", password=PASSWORD,
                             now=NOW)
        await create_trainer(session, email=TRAINER, name="Claire Formatrice", password=PASSWORD, now=NOW)
        session.add(models.Testimonial(learner_id=1, session_id=1, text="Formation utile", scope="website",
                                       named=False, consent_at=datetime(2025, 1, 10, tzinfo=UTC)))


async def test_a_trainer_gets_the_404_page_everywhere_and_nobody_else_gets_in(
        web: httpx.AsyncClient, accounts: None) -> None:
    for method, path in ROUTES:
        anonymous = await web.request(method, path)
        assert anonymous.status_code == 303 and "/dashboard/login" in anonymous.headers["location"], path
    await login(web, TRAINER)
    token = csrf_of((await web.get("/dashboard/")).text)
    assert "/dashboard/quality" not in (await web.get("/dashboard/")).text  # no link for a trainer
    for method, path in ROUTES:
        response = await web.request(method, path, data={"csrf": token} if method == "POST" else None)
        assert response.status_code == 404, (method, path)
        assert "Page introuvable" in response.text


async def test_the_quality_manager_runs_the_registers(web: httpx.AsyncClient, accounts: None) -> None:
    await login(web, QUALITY)
    overview = await web.get("/dashboard/")
    assert f'href="{REGISTER}"' in overview.text  # the dashboard's navigation links the quality pages
    # Without the CSRF token the form is refused.
    assert (await web.post(REGISTER, data={"source_kind": "ticket", "finding": "x", "decision": "y"})
            ).status_code == 403
    created = await post_form(web, REGISTER, REGISTER, {
        "source_kind": "ticket", "source_id": "2", "finding": "Réclamation sur le support",
        "decision": "Envoyer le support avant la session", "owner_id": "1", "due_on": "2025-03-01"})
    assert created.status_code == 303 and created.headers["location"].startswith(REGISTER)
    refused = await post_form(web, REGISTER, REGISTER, {"source_kind": "alert", "finding": "", "decision": "x"})
    assert refused.status_code == 422 and "obligatoires" in refused.text and 'name="csrf"' in refused.text
    page = await web.get(REGISTER)
    assert "Envoyer le support avant la session" in page.text and "(en retard)" in page.text  # due 1 March < NOW
    assert 'class="topbar"' in page.text and "Déconnexion" in page.text  # the dashboard's layout
    assert (await post_form(web, REGISTER, f"{REGISTER}/1/statut", {"status": "done"})).status_code == 303
    assert (await post_form(web, REGISTER, f"{REGISTER}/9/statut", {"status": "done"})).status_code == 404
    assert (await post_form(web, REGISTER, f"{REGISTER}/1/efficacite",
                            {"note": "Plus de réclamation", "effective": "oui"})).status_code == 303
    done = await web.get(f"{REGISTER}?status=done")
    assert "efficace : Plus de réclamation" in done.text
    assert "Envoyer le support" in (await web.get("/dashboard/quality/ameliorations.csv")).text
    register = await web.get("/dashboard/quality/reclamations")
    assert register.status_code == 200 and "Réclamation" in register.text and "mécontent" in register.text


async def test_testimonials_publication_and_pack(web: httpx.AsyncClient, accounts: None) -> None:
    await login(web, QUALITY)
    library = "/dashboard/quality/temoignages"
    assert "Formation utile" not in (await web.get(f"{library}.html")).text
    assert (await post_form(web, library, f"{library}/1/approuver", {})).status_code == 303
    assert "Formation utile" in (await web.get(f"{library}.html")).text
    assert (await post_form(web, library, f"{library}/9/approuver", {})).status_code == 404
    publication = "/dashboard/quality/publication"
    assert (await post_form(web, publication, publication, {"pub-nps.hot": "1"})).status_code == 303
    assert 'name="pub-nps.hot" value="1" checked' in (await web.get(publication)).text
    unknown = await post_form(web, publication, publication, {"pub-n'existe.pas": "1"})
    assert unknown.status_code == 422 and "inconnu" in unknown.text
    assert 'name="pub-nps.hot" value="1" checked' in (await web.get(publication)).text  # unchanged
    form = await web.get("/dashboard/quality/preuves")
    assert 'action="/dashboard/quality/preuves.zip"' in form.text
    pack = await web.get("/dashboard/quality/preuves.zip?start=2024-12-01&end=2025-03-01&session=")
    assert pack.status_code == 200 and pack.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(pack.content)) as archive:
        assert any(name.endswith(".pdf") for name in archive.namelist())
    assert (await web.get("/dashboard/quality/preuves.zip?start=2025-03-01&end=2025-01-01")).status_code == 422


def _visible(html: str) -> str:
    """What a person reads: the text outside tags and scripts."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)))


#: Each quality page: English a reader must see, French (and codes) they must not.
ENGLISH_PAGES = [
    (REGISTER, ["Improvement register", "Status", "Finding", "Decision", "Owner", "New action", "Planned",
                "Request or complaint", "overdue", "Create"],
     ["Registre", "Statut", "Constat", "Décision", "Prévue", "Nouvelle action", "en retard", "planned", "ticket"]),
    ("/dashboard/quality/reclamations", ["Complaints register", "Received", "Category", "Complaint", "requests",
                                         "First answer"],
     ["Registre", "Reçue le", "Réclamation :", "demandes", "reclamation", "du "]),
    ("/dashboard/quality/temoignages", ["Testimonials", "Author", "Website and documents", "Approve"],
     ["Auteur", "Site web et supports", "Approuver", "Diffusion"]),
    ("/dashboard/quality/publication", ["Published indicators", "The ticked indicators appear on",
                                        "Complaints per 100 learners", "NPS (hot survey)", "respondents"],
     ["Indicateurs publiés", "Réclamations pour 100", "NPS à chaud", "répondants"]),
    ("/dashboard/quality/preuves", ["Qualiopi evidence pack", "Download the pack", "Session (optional)"],
     ["Dossier de preuves", "Télécharger", "facultatif"]),
]


async def test_an_english_speaking_quality_manager_reads_the_quality_pages_in_english(
        web: httpx.AsyncClient, accounts: None, session_maker: async_sessionmaker[AsyncSession]) -> None:
    async with session_maker() as session, session.begin():
        manager = await create_trainer(session, email="quality@example.com", name="Jane Quality", role="quality",
                                       password=PASSWORD, now=NOW)
        manager.locale = "en"
    await login(web, "quality@example.com")
    assert (await post_form(web, REGISTER, REGISTER, {
        "source_kind": "ticket", "source_id": "2", "finding": "Slides missing", "decision": "Send them",
        "due_on": "2025-03-01"})).status_code == 303
    tabs = ["Improvements", "Complaints", "Testimonials", "Publication", "Qualiopi pack"]
    for path, english, french in ENGLISH_PAGES:
        page = await web.get(path)
        assert page.status_code == 200, path
        text = _visible(page.text)
        for words in english + tabs + ["Quality", "Log out"]:
            assert words in text, (path, words)
        for words in french:
            assert words not in text, (path, words)
