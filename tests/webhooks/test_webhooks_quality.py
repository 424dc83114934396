"""The quality manager's screens: a quality manager's key opens them, a trainer's key gets 404
on every route; the register's forms redirect after POST; the pack downloads as a ZIP."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.demo.quality_history import seed_history
from engine.services.runtime import Runtime
from engine.store import models
from tests.support.web_support import NOW
from webhooks.deps import create_api_key

ROUTES = [("GET", "/dashboard/quality/ameliorations"), ("GET", "/dashboard/quality/ameliorations.csv"),
          ("POST", "/dashboard/quality/ameliorations"), ("POST", "/dashboard/quality/ameliorations/1/statut"),
          ("POST", "/dashboard/quality/ameliorations/1/efficacite"), ("GET", "/dashboard/quality/reclamations"),
          ("GET", "/dashboard/quality/temoignages"), ("POST", "/dashboard/quality/temoignages/1/approuver"),
          ("GET", "/dashboard/quality/temoignages.csv"), ("GET", "/dashboard/quality/temoignages.html"),
          ("GET", "/dashboard/quality/publication"), ("POST", "/dashboard/quality/publication"),
          ("GET", "/dashboard/quality/preuves"), ("GET", "/dashboard/quality/preuves.zip?start=2025-01-01&end=2025-03-01")]


async def _keys(rt: Runtime, maker: async_sessionmaker[AsyncSession]) -> tuple[dict[str, str], dict[str, str]]:
    await seed_history(rt.engine, sessions=2, learners_per_session=6, first_end=NOW - timedelta(days=60))
    async with maker() as session, session.begin():
        quality = models.Trainer(name="Claire Qualité", email="q@exemple.fr", password_hash="", role="quality")
        session.add(quality)
        await session.flush()
        quality_key = await create_api_key(session, "qualité", trainer_id=quality.id)
        trainer_key = await create_api_key(session, "formateur", trainer_id=1)
        session.add(models.Testimonial(learner_id=1, session_id=1, text="Formation utile", scope="website",
                                       named=False, consent_at=datetime(2025, 1, 10, tzinfo=UTC)))
    return {"X-Api-Key": quality_key}, {"X-Api-Key": trainer_key}


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_a_trainer_gets_404_everywhere(client: httpx.AsyncClient, rt: Runtime,
                                             session_maker: async_sessionmaker[AsyncSession],
                                             method: str, path: str) -> None:
    _, trainer = await _keys(rt, session_maker)
    response = await client.request(method, path, headers=trainer)
    assert response.status_code == 404
    assert (await client.request(method, path)).status_code == 401


async def test_the_quality_manager_runs_the_registers(client: httpx.AsyncClient, rt: Runtime,
                                                      session_maker: async_sessionmaker[AsyncSession]) -> None:
    quality, _ = await _keys(rt, session_maker)
    created = await client.post("/dashboard/quality/ameliorations", headers=quality, data={
        "source_kind": "ticket", "source_id": "2", "finding": "Réclamation sur le support",
        "decision": "Envoyer le support avant la session", "owner_id": "1", "due_on": "2025-03-01"})
    assert created.status_code == 303 and created.headers["location"] == "/dashboard/quality/ameliorations"
    refused = await client.post("/dashboard/quality/ameliorations", headers=quality,
                                data={"source_kind": "alert", "finding": "", "decision": "x"})
    assert refused.status_code == 422 and "obligatoires" in refused.text
    page = await client.get("/dashboard/quality/ameliorations", headers=quality)
    assert "Envoyer le support avant la session" in page.text and "(en retard)" in page.text  # due 1 March < NOW
    assert (await client.post("/dashboard/quality/ameliorations/1/statut", headers=quality,
                              data={"status": "done"})).status_code == 303
    assert (await client.post("/dashboard/quality/ameliorations/1/efficacite", headers=quality,
                              data={"note": "Plus de réclamation", "effective": "oui"})).status_code == 303
    done = await client.get("/dashboard/quality/ameliorations?status=done", headers=quality)
    assert "efficace : Plus de réclamation" in done.text
    assert "Envoyer le support" in (await client.get("/dashboard/quality/ameliorations.csv", headers=quality)).text
    register = await client.get("/dashboard/quality/reclamations", headers=quality)
    assert register.status_code == 200 and "Réclamation" in register.text and "mécontent" in register.text


async def test_testimonials_publication_and_pack(client: httpx.AsyncClient, rt: Runtime,
                                                 session_maker: async_sessionmaker[AsyncSession]) -> None:
    quality, _ = await _keys(rt, session_maker)
    assert "Formation utile" not in (await client.get("/dashboard/quality/temoignages.html", headers=quality)).text
    assert (await client.post("/dashboard/quality/temoignages/1/approuver", headers=quality)).status_code == 303
    assert "Formation utile" in (await client.get("/dashboard/quality/temoignages.html", headers=quality)).text
    assert (await client.post("/dashboard/quality/temoignages/9/approuver", headers=quality)).status_code == 404
    chosen = await client.post("/dashboard/quality/publication", headers=quality, data={"keys": ["nps.hot"]})
    assert chosen.status_code == 303
    assert 'value="nps.hot" checked' in (await client.get("/dashboard/quality/publication", headers=quality)).text
    assert "inconnu" in (await client.post("/dashboard/quality/publication", headers=quality,
                                           data={"keys": ["n'existe.pas"]})).text
    pack = await client.get("/dashboard/quality/preuves.zip?start=2024-12-01&end=2025-03-01", headers=quality)
    assert pack.status_code == 200 and pack.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(pack.content)) as archive:
        assert any(name.endswith(".pdf") for name in archive.namelist())
