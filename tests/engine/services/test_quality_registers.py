"""The complaints register (indicator 31), the improvement register (indicator 32) and the
testimonials library with consent and withdrawal."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.core.indicators import Period
from engine.demo.quality_history import seed_history
from engine.services import complaints, improvements, testimonials
from engine.store import models

END = datetime(2026, 3, 2, 16, tzinfo=UTC)
PERIOD = Period(date(2026, 3, 1), date(2026, 3, 31))
NOW = datetime(2026, 3, 20, 9, tzinfo=UTC)


async def test_improvement_register_loop(store_engine: AsyncEngine,
                                         session_maker: async_sessionmaker[AsyncSession]) -> None:
    await seed_history(store_engine, sessions=2, learners_per_session=2, first_end=END)
    async with session_maker() as session, session.begin():
        from_ticket = await improvements.create_action(
            session, source_kind="ticket", source_id=2, finding="Réclamation sur le support", owner_id=1,
            decision="Envoyer le support avant la session", due_on=date(2026, 3, 15), now=NOW)
        await improvements.create_action(session, source_kind="criterion", source_ref="moyens",
                                         finding="Moyens à 2/5", decision="Changer de salle", now=NOW)
        with pytest.raises(improvements.ActionInvalid):
            await improvements.create_action(session, source_kind="rumeur", finding="x", decision="y", now=NOW)
        with pytest.raises(improvements.ActionInvalid):
            await improvements.create_action(session, source_kind="alert", finding=" ", decision="y", now=NOW)
    async with session_maker() as session:
        ticket = await session.get(models.Ticket, 2)
        assert ticket is not None and ticket.corrective_action_id == from_ticket.id
        page = await improvements.register_page(session, today=date(2026, 3, 20))
        assert page.total == 2 and page.counts == {"planned": 2}
        overdue = {a.id: a.overdue for a in page.actions}
        assert overdue[from_ticket.id or 0] is True and page.actions[0].status_label == "Prévue"
        mine = await improvements.register_page(session, today=date(2026, 3, 20), owner_id=1)
        assert [a.owner for a in mine.actions] == ["Formateur 1"]
    async with session_maker() as session, session.begin():
        await improvements.set_status(session, action_id=from_ticket.id or 0, status="done", now=NOW)
        await improvements.review_effectiveness(session, action_id=from_ticket.id or 0, effective=True,
                                                note="Plus aucune réclamation sur le support", now=NOW)
    async with session_maker() as session:
        done = await improvements.register_page(session, today=date(2026, 3, 20), status="done")
        assert [(a.overdue, a.effective) for a in done.actions] == [(False, True)]
        assert (await improvements.register_page(session, today=date(2026, 3, 20), source_kind="criterion")).total == 1


async def test_complaints_register_categorises_and_resolves(
        store_engine: AsyncEngine, session_maker: async_sessionmaker[AsyncSession]) -> None:
    await seed_history(store_engine, sessions=2, learners_per_session=2, first_end=END)
    async with session_maker() as session, session.begin():
        assert await complaints.acknowledge(session, ticket_id=1, now=NOW) is False  # the seed acknowledged it
        session.add(models.Ticket(learner_id=1, session_id=1, body="Bonjour, une question", created_at=NOW,
                                  due_by=NOW + timedelta(hours=48)))
    async with session_maker() as session, session.begin():
        assert await complaints.acknowledge(session, ticket_id=4, now=NOW) is True
        action = await improvements.create_action(session, source_kind="alert", finding="f", decision="d", now=NOW)
        await complaints.resolve(session, ticket_id=2, resolution="Support renvoyé", now=NOW,
                                 corrective_action_id=action.id)
        with pytest.raises(complaints.ComplaintInvalid):
            await complaints.resolve(session, ticket_id=99, resolution="x", now=NOW)
    async with session_maker() as session:
        register = await complaints.complaints_register(session, period=PERIOD)
        assert register.total == 4 and register.counts == {"Question": 3, "Difficulté": 0, "Réclamation": 1}
        complaint = next(e for e in register.entries if e.category == "reclamation")
        assert (complaint.id, complaint.response_hours, complaint.within_target) == (2, 60.0, False)
        assert complaint.corrective_action_id == action.id and complaint.learner.startswith("Stagiaire")
        only = await complaints.complaints_register(session, period=PERIOD, category="reclamation")
        assert [e.id for e in only.entries] == [2]
        scoped = await complaints.complaints_register(session, period=PERIOD, session_ids={2})
        assert [e.session_id for e in scoped.entries] == [2]


async def test_testimonials_from_replies_approval_and_withdrawal(
        store_engine: AsyncEngine, session_maker: async_sessionmaker[AsyncSession]) -> None:
    await seed_history(store_engine, sessions=1, learners_per_session=3, first_end=END)
    answers = {1: (True, "J'ose enfin prendre la parole", True), 2: (True, "Très concret", False),
               3: (False, "Bof", False)}
    async with session_maker() as session, session.begin():
        for learner, (consent, text, named) in answers.items():
            for qid, value in (("consentement", consent), ("temoignage", text), ("publier-nom", named)):
                session.add(models.Reply(learner_id=learner, enrollment_id=learner, kind="survey", raw_text=str(value),
                                         value={"question": f"temoignage#{qid}", "value": value, "status": "answered"},
                                         created_at=NOW))
    async with session_maker() as session, session.begin():
        assert await testimonials.collect_from_replies(session, now=NOW) == 2
    async with session_maker() as session, session.begin():
        assert await testimonials.collect_from_replies(session, now=NOW) == 0  # idempotent
        library = await testimonials.library(session)
        assert sorted(v.author for v in library) == ["Anonyme", "Stagiaire1 T."]
        first = next(v for v in library if v.author != "Anonyme")
        assert await testimonials.approve(session, testimonial_id=first.id, trainer_id=1, now=NOW)
    async with session_maker() as session:
        approved = await testimonials.testimonial_rows(session, website_only=True, approved_only=True)
        assert [t.text for t in approved] == ["J'ose enfin prendre la parole"]
        assert "J'ose enfin" in testimonials.export_html(approved)
        assert "Très concret" in testimonials.export_csv(await testimonials.testimonial_rows(session))
    async with session_maker() as session, session.begin():
        assert await testimonials.withdraw(session, learner_id=1, now=NOW) == 1
    async with session_maker() as session:
        assert await testimonials.testimonial_rows(session, website_only=True, approved_only=True) == []
        everything = testimonials.export_csv(await testimonials.testimonial_rows(session))
        assert "J'ose enfin" not in everything and "Très concret" in everything
        assert not await testimonials.approve(session, testimonial_id=first.id, trainer_id=1, now=NOW)


async def test_suggestions_point_at_what_has_no_action_yet(
        store_engine: AsyncEngine, session_maker: async_sessionmaker[AsyncSession]) -> None:
    await seed_history(store_engine, sessions=1, learners_per_session=6, first_end=END)
    async with session_maker() as session, session.begin():
        for enrollment in (1, 2, 3):  # three more "moyens" at 1/5: 4 satisfied of 8
            session.add(models.Reply(learner_id=enrollment, enrollment_id=enrollment, kind="survey", raw_text="1",
                                     value={"question": "satisfaction-chaud#moyens", "value": 1, "status": "answered"},
                                     created_at=END + timedelta(hours=5)))
        session.add(models.Alert(learner_id=1, session_id=1, kind="low_rating", reason="Note 1/5 : moyens",
                                 created_at=END + timedelta(hours=5)))
    async with session_maker() as session:
        found = await improvements.suggestions(session, period=PERIOD, now=NOW)
    assert [(s.source_kind, s.source_id, s.source_ref) for s in found] == [
        ("criterion", None, "moyens"), ("ticket", 2, None), ("alert", 1, None)]
    assert "50 %" in found[0].finding
    async with session_maker() as session, session.begin():
        await improvements.create_action(session, source_kind="ticket", source_id=2, finding="f", decision="d",
                                         now=NOW)
        await improvements.create_action(session, source_kind="criterion", source_ref="moyens", finding="f",
                                         decision="d", now=NOW)
    async with session_maker() as session:
        assert [s.source_kind for s in await improvements.suggestions(session, period=PERIOD, now=NOW)] == ["alert"]
