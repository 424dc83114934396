"""Monday digests reach the fake SMTP server: one per trainer with only their sessions, one for
the quality manager with everything; text and HTML parts, a dashboard link, a one-click stop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import select

from engine.demo.quality_history import seed_history
from engine.fakes.fake_smtp import FakeSmtp
from engine.services.bootstrap import build_runtime, close_runtime
from engine.services.digests import (
    digest_week,
    send_due_digests,
    stop_link,
    trainer_from_stop_token,
)
from engine.settings import Settings
from engine.store import models

# Monday 7 December 2026, 08:05 in Paris (07:05 UTC).
MONDAY = datetime(2026, 12, 7, 7, 5, tzinfo=UTC)


def test_digest_week_is_monday_from_8_in_the_recipients_zone() -> None:
    assert digest_week(MONDAY, "Europe/Paris") is not None
    assert digest_week(MONDAY - timedelta(minutes=10), "Europe/Paris") is None  # 07:55 in Paris
    assert digest_week(MONDAY, "America/Montreal") is None  # 02:05 there
    assert digest_week(MONDAY + timedelta(days=1), "Europe/Paris") is None  # Tuesday


async def test_each_trainer_gets_only_their_sessions(store_url: str, tmp_path: Path) -> None:
    smtp = FakeSmtp()
    with smtp.running() as (host, port):
        settings = Settings(DATABASE_URL=store_url, REDIS_URL=None, data_dir=tmp_path, sandbox=False,
                            smtp_host=host, smtp_port=port, public_url="https://suivi.example.fr",
                            secret_key="digest-test-secret-0123456789abcdefghij")
        rt = await build_runtime(settings)
        try:
            # Sessions 1..4 end this week; trainer 1 leads 1 and 3, trainer 2 leads 2 and 4.
            await seed_history(rt.engine, sessions=4, learners_per_session=3, first_end=MONDAY + timedelta(days=1))
            async with rt.sessions() as session, session.begin():
                session.add(models.Trainer(name="Qualité", email="qualite@exemple.fr", password_hash="",
                                           role="quality"))
                session.add(models.Trainer(name="Absent", email="absent@exemple.fr", password_hash="",
                                           digest_opt_out=True))
                session.add(models.Alert(learner_id=1, session_id=1, kind="low_rating", reason="Note 1/5 : accueil",
                                         created_at=MONDAY - timedelta(days=2)))
                session.add(models.Ticket(learner_id=2, session_id=2, body="Je n'arrive pas à me connecter",
                                          created_at=MONDAY - timedelta(days=3), due_by=MONDAY - timedelta(days=1)))
            assert await send_due_digests(rt, now=MONDAY) == 3
            assert await send_due_digests(rt, now=MONDAY + timedelta(minutes=15)) == 0  # once a week
            async with rt.sessions() as session:
                logged = (await session.exec(select(models.DigestLog))).all()
            assert len(logged) == 3 and all(entry.sent_at == MONDAY for entry in logged)
        finally:
            await close_runtime(rt)
    by_recipient = {mail.rcpt_tos[0]: mail.message for mail in smtp.received}
    assert set(by_recipient) == {"formateur1@exemple.fr", "formateur2@exemple.fr", "qualite@exemple.fr"}

    def text_of(address: str) -> str:
        part = by_recipient[address].get_body(("plain",))
        assert part is not None
        return str(part.get_content())

    one, two, quality = (text_of(a) for a in ("formateur1@exemple.fr", "formateur2@exemple.fr", "qualite@exemple.fr"))
    assert "Session n°1 " in one and "Session n°3 " in one and "Session n°2 " not in one and "n°4 " not in one
    assert "Session n°2 " in two and "Session n°4 " in two and "Session n°1 " not in two
    assert all(f"Session n°{i} " in quality for i in range(1, 5))
    assert "Note 1/5 : accueil" in one and "Note 1/5" not in two
    assert "n°7 en retard" in two and "n°7" not in one  # the seed made tickets 1..6, all answered
    assert "https://suivi.example.fr/dashboard" in one and "(vos sessions)" in one and "(toutes les sessions)" in quality
    html = by_recipient["formateur1@exemple.fr"].get_body(("html",))
    assert html is not None and 'href="https://suivi.example.fr/dashboard"' in str(html.get_content())
    unsubscribe = str(by_recipient["formateur1@exemple.fr"]["List-Unsubscribe"]).strip("<>")
    assert unsubscribe.startswith("https://suivi.example.fr/public/digest/arret/")
    token = unsubscribe.rsplit("/", 1)[1]
    assert trainer_from_stop_token("digest-test-secret-0123456789abcdefghij", token, now=MONDAY) == 1
    assert stop_link("s3cret", "https://x", trainer_id=1, now=MONDAY).startswith("https://x/public/digest/arret/")
