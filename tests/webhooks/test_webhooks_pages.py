"""One-tap answer pages and e-mail unsubscribe: rendering, one stored event, bad links."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.links import sign
from engine.services.compose import ANSWER_LINK_PURPOSE, UNSUBSCRIBE_PURPOSE
from engine.store.models import AuditEvent, Enrollment, Learner
from tests.support.seed import Seed
from tests.support.web_support import NOW, SECRET, Recorder, inbound_events


def answer_token(delivery_id: int, question_ref: str = "management/quiz-sbi#q1",
                 expires_at=NOW + timedelta(days=3), secret: str = SECRET) -> str:
    return sign(secret, purpose=ANSWER_LINK_PURPOSE, data={"d": delivery_id, "q": question_ref},
                expires_at=expires_at)


async def quiz(seed: Seed, **learner_fields: object):
    learner = await seed.learner(**learner_fields)
    enrollment = await seed.enrollment(learner=learner)
    delivery = await seed.delivery(enrollment=enrollment)
    prompt = await seed.prompt(delivery=delivery)
    return learner, delivery, prompt


async def test_answer_page_renders_question_and_lettered_choices(
        client: httpx.AsyncClient, seed: Seed) -> None:
    _, delivery, _ = await quiz(seed)
    page = await client.get(f"/r/{answer_token(delivery.id)}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["referrer-policy"] == "no-referrer"
    html = page.text
    assert 'lang="fr"' in html and "Quelle est la première étape du feedback SBI" in html
    for value, label in (("A", "A. Situation"), ("B", "B. Jugement"), ("C", "C. Solution")):
        assert f'name="answer" value="{value}"' in html and label in html
    assert "<script" not in html


async def test_posting_an_answer_stores_one_event_then_duplicates_say_thanks(
        client: httpx.AsyncClient, seed: Seed, recorder: Recorder,
        session_maker: async_sessionmaker[AsyncSession]) -> None:
    learner, delivery, prompt = await quiz(seed)
    url = f"/r/{answer_token(delivery.id)}"
    first = await client.post(url, data={"answer": "b"})
    second = await client.post(url, data={"answer": "C"})
    assert first.status_code == second.status_code == 200
    assert "Merci" in first.text and "Merci" in second.text
    [event] = await inbound_events(session_maker)
    assert (event.provider, event.channel, event.sender, event.body, event.learner_id) == (
        "link", "email", f"learner:{learner.id}", "B", learner.id)
    assert event.provider_id.endswith(f":{prompt.id}")
    assert event.raw["prompt_id"] == prompt.id
    assert recorder.calls == [("process_inbound_job", event.id)]


async def test_an_answer_not_offered_shows_the_form_again(
        client: httpx.AsyncClient, seed: Seed,
        session_maker: async_sessionmaker[AsyncSession]) -> None:
    _, delivery, _ = await quiz(seed)
    response = await client.post(f"/r/{answer_token(delivery.id)}", data={"answer": "Z"})
    assert response.status_code == 400 and "Choisissez" in response.text
    assert await inbound_events(session_maker) == []


@pytest.mark.parametrize(("expectation", "offered", "posted", "stored"), [
    ({"kind": "rating", "scale": [1, 5]}, ["1", "5"], "4", "4"),
    ({"kind": "nps", "scale": [0, 10]}, ["0", "10"], "9", "9"),
    ({"kind": "yes_no"}, ["oui", "non"], "oui", "oui"),
    ({"kind": "text"}, [], "  Plus d’exemples concrets  ", "Plus d’exemples concrets"),
])
async def test_each_kind_of_question(
        client: httpx.AsyncClient, seed: Seed, session_maker: async_sessionmaker[AsyncSession],
        expectation: dict, offered: list[str], posted: str, stored: str) -> None:
    learner = await seed.learner()
    delivery = await seed.delivery(enrollment=await seed.enrollment(learner=learner),
                                   kind="survey")
    await seed.prompt(delivery=delivery, kind="survey", expectation=expectation,
                      question_ref="satisfaction#q1")
    url = f"/r/{answer_token(delivery.id, 'satisfaction#q1')}"
    page = await client.get(url)
    assert page.status_code == 200
    for value in offered:
        assert f'value="{value}"' in page.text
    if expectation["kind"] == "text":
        assert "<textarea" in page.text
    assert (await client.post(url, data={"answer": posted})).status_code == 200
    [event] = await inbound_events(session_maker)
    assert event.body == stored


async def test_english_learner_gets_english_pages(client: httpx.AsyncClient, seed: Seed) -> None:
    learner = await seed.learner(locale="en")
    delivery = await seed.delivery(enrollment=await seed.enrollment(learner=learner))
    await seed.prompt(delivery=delivery, expectation={"kind": "yes_no"})
    url = f"/r/{answer_token(delivery.id)}"
    page = await client.get(url)
    assert 'lang="en"' in page.text and ">Yes<" in page.text
    assert "Thank you" in (await client.post(url, data={"answer": "yes"})).text


async def test_expired_forged_and_unknown_links_are_friendly_pages(
        client: httpx.AsyncClient, seed: Seed,
        session_maker: async_sessionmaker[AsyncSession]) -> None:
    _, delivery, _ = await quiz(seed)
    expired = answer_token(delivery.id, expires_at=NOW - timedelta(minutes=1))
    forged = answer_token(delivery.id, secret="not-our-secret")
    wrong_purpose = sign(SECRET, purpose=UNSUBSCRIBE_PURPOSE, data={"l": 1},
                         expires_at=NOW + timedelta(days=1))
    cases = {expired: (410, "Lien expiré"), forged: (400, "Lien invalide"),
             "garbage": (400, "Lien invalide"), wrong_purpose: (400, "Lien invalide"),
             answer_token(999_999): (404, "Question introuvable")}
    for token, (code, words) in cases.items():
        for method in ("GET", "POST"):
            response = await client.request(method, f"/r/{token}", data={"answer": "A"})
            assert response.status_code == code, (token, method)
            assert words in response.text and "Traceback" not in response.text
    assert await inbound_events(session_maker) == []


async def test_closed_and_answered_questions(client: httpx.AsyncClient, seed: Seed,
                                             session_maker: async_sessionmaker[AsyncSession]
                                             ) -> None:
    learner = await seed.learner()
    enrollment = await seed.enrollment(learner=learner)
    late = await seed.delivery(enrollment=enrollment)
    await seed.prompt(delivery=late, expires_at=NOW - timedelta(hours=1))
    done = await seed.delivery(enrollment=enrollment)
    await seed.prompt(delivery=done, status="answered")
    closed = await client.post(f"/r/{answer_token(late.id)}", data={"answer": "A"})
    answered = await client.get(f"/r/{answer_token(done.id)}")
    assert closed.status_code == 410 and "Question close" in closed.text
    assert answered.status_code == 200 and "Déjà répondu" in answered.text
    assert await inbound_events(session_maker) == []


def unsubscribe_token(learner_id: int) -> str:
    return sign(SECRET, purpose=UNSUBSCRIBE_PURPOSE, data={"l": learner_id},
                expires_at=NOW + timedelta(days=365))


async def test_unsubscribe_get_confirms_and_one_click_post_opts_out(
        client: httpx.AsyncClient, seed: Seed,
        session_maker: async_sessionmaker[AsyncSession]) -> None:
    learner = await seed.learner()
    url = f"/u/{unsubscribe_token(learner.id)}"
    confirm = await client.get(url)
    assert confirm.status_code == 200 and "Confirmer le désabonnement" in confirm.text
    async with session_maker() as session:
        assert (await session.get(Learner, learner.id)).opted_out_email_at is None
    # RFC 8058: the mail client POSTs List-Unsubscribe=One-Click, no confirmation step.
    one_click = await client.post(url, data={"List-Unsubscribe": "One-Click"})
    again = await client.post(url, content=b"")
    assert one_click.status_code == again.status_code == 200
    assert "Désabonnement confirmé" in one_click.text
    async with session_maker() as session:
        stored = await session.get(Learner, learner.id)
        assert stored is not None and stored.opted_out_email_at == NOW
        assert stored.opted_out_sms_at is None
        audits = (await session.exec(
            select(AuditEvent).where(AuditEvent.action == "opt_out"))).all()
        assert len(audits) == 1
    assert "déjà désabonné" in (await client.get(url)).text


async def test_unsubscribe_bad_tokens(client: httpx.AsyncClient, seed: Seed) -> None:
    expired = sign(SECRET, purpose=UNSUBSCRIBE_PURPOSE, data={"l": 1},
                   expires_at=NOW - timedelta(days=1))
    assert (await client.post(f"/u/{expired}")).status_code == 410
    assert (await client.post("/u/nope")).status_code == 400
    assert (await client.get(f"/u/{unsubscribe_token(424242)}")).status_code == 400


async def _pinned_quiz(seed: Seed, session_maker: async_sessionmaker[AsyncSession], **learner_fields: object):
    """A learner enrolled in the shipped standard campaign (a real pinned version) with a quiz prompt."""
    from engine.campaign.loader import load_campaign
    from engine.content.library import ContentLibrary
    from engine.services.catalog import pin_version
    from engine.settings import PROJECT_ROOT

    library, _ = ContentLibrary.load(PROJECT_ROOT / "content")
    campaign = load_campaign(PROJECT_ROOT / "campaigns" / "suivi-standard.yaml").campaign
    assert campaign is not None
    async with session_maker() as session, session.begin():
        version = await pin_version(session, campaign=campaign, library=library)
        version_id = version.id
    learner = await seed.learner(**learner_fields)
    enrollment = await seed.enrollment(learner=learner)
    async with session_maker() as session, session.begin():
        row = await session.get(Enrollment, enrollment.id)
        assert row is not None
        row.campaign_version_id = version_id or 0
    delivery = await seed.delivery(enrollment=enrollment)
    bank = library.banks["management/quiz-sbi"]
    item = bank.items[0]
    await seed.prompt(delivery=delivery, question_ref=f"management/quiz-sbi#{item.id}",
                      expectation={"kind": "choice", "choices": list(item.choices), "values": [], "scale": None})
    return delivery, item


@pytest.mark.parametrize("right", [True, False], ids=["right", "wrong"])
async def test_a_quiz_answered_by_link_says_right_or_wrong(
        client: httpx.AsyncClient, seed: Seed, session_maker: async_sessionmaker[AsyncSession],
        right: bool) -> None:
    delivery, item = await _pinned_quiz(seed, session_maker)
    letter = item.answer if right else next(c for c in "ABC" if c != item.answer)
    page = await client.post(f"/r/{answer_token(delivery.id, f'management/quiz-sbi#{item.id}')}",
                             data={"answer": letter})
    assert page.status_code == 200
    if right:
        assert "Bonne réponse" in page.text and f"c&#39;est bien la réponse {item.answer}" in page.text
    else:
        assert "Pas tout à fait" in page.text and item.explanation.strip()[:40] in page.text


async def test_an_expired_link_speaks_the_learners_language(client: httpx.AsyncClient, seed: Seed) -> None:
    learner = await seed.learner(locale="en")
    delivery = await seed.delivery(enrollment=await seed.enrollment(learner=learner))
    await seed.prompt(delivery=delivery)
    expired = answer_token(delivery.id, expires_at=NOW - timedelta(minutes=1))
    page = await client.get(f"/r/{expired}", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert page.status_code == 410 and "Link expired" in page.text and 'lang="en"' in page.text
    gone = answer_token(delivery.id, question_ref="management/quiz-sbi#nothing-here")
    page = await client.get(f"/r/{gone}", headers={"Accept-Language": "fr-FR"})
    assert page.status_code == 404 and "Question not found" in page.text
