"""Accounts: lockout arithmetic, and reset / invitation links sent through the SMTP settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession

from engine.fakes.fake_smtp import FakeSmtp
from engine.services import accounts
from engine.settings import Settings
from engine.store.models import Trainer

NOW = datetime(2025, 3, 4, 9, 30, tzinfo=UTC)


async def test_lockout_counts_consecutive_failures_and_a_success_resets_them(session: AsyncSession) -> None:
    await accounts.create_trainer(session, email="a@org.fr", name="A", password="bon-mot-de-passe", now=NOW)
    for _ in range(accounts.MAX_FAILED_LOGINS - 1):
        assert await accounts.authenticate(session, email="a@org.fr", password="x", now=NOW) == "invalid"
    assert isinstance(await accounts.authenticate(session, email="A@org.fr ", password="bon-mot-de-passe",
                                                  now=NOW), Trainer)
    for _ in range(accounts.MAX_FAILED_LOGINS):
        assert await accounts.authenticate(session, email="a@org.fr", password="x", now=NOW) == "invalid"
    assert await accounts.authenticate(session, email="a@org.fr", password="x", now=NOW) == "locked"
    end = NOW + accounts.LOCK_DURATION
    assert await accounts.authenticate(session, email="a@org.fr", password="bon-mot-de-passe",
                                       now=end - timedelta(seconds=1)) == "locked"
    assert isinstance(await accounts.authenticate(session, email="a@org.fr", password="bon-mot-de-passe",
                                                  now=end + timedelta(seconds=1)), Trainer)


async def test_reset_mail_goes_out_by_smtp_with_a_working_single_use_link(session: AsyncSession,
                                                                          tmp_path: Path) -> None:
    smtp = FakeSmtp()
    with smtp.running() as (host, port):
        settings = Settings(data_dir=tmp_path, secret_key="s3cret", smtp_host=host, smtp_port=port,
                            public_url="https://ancrage.example")
        trainer = await accounts.create_trainer(session, email="b@org.fr", name="Bea", password="ancien-mot-de-passe",
                                                now=NOW)
        mail = accounts.reset_mail(settings, trainer)
        assert await accounts.send_account_mail(settings, mail)
    [received] = smtp.received
    assert received.rcpt_tos == ("b@org.fr",)
    assert mail.link in received.message.get_content()
    token = mail.link.rsplit("/", 1)[1]
    assert await accounts.trainer_for_link(session, settings, token, max_age=accounts.RESET_VALIDITY) is trainer
    await accounts.set_password(session, trainer=trainer, password="nouveau-mot-de-passe", now=NOW)
    assert await accounts.trainer_for_link(session, settings, token, max_age=accounts.RESET_VALIDITY) is None
    other = Settings(data_dir=tmp_path, secret_key="another")
    assert await accounts.trainer_for_link(session, other, token) is None
    # An invitation link is for an account without a password only.
    invited = await accounts.create_trainer(session, email="c@org.fr", name="Cy", now=NOW)
    invite = accounts.password_link_token(settings, invited)
    assert await accounts.trainer_for_link(session, settings, invite) is invited
    assert await accounts.trainer_for_link(session, settings, accounts.password_link_token(settings, trainer)) is None
