"""Dashboard accounts: creating trainers, logging in with a lockout, reset and invitation links.

Passwords are argon2 hashes (pwdlib). After ``MAX_FAILED_LOGINS`` wrong
passwords in a row, the next wrong one locks the account for ``LOCK_DURATION``
(a correct password during the lock is refused too, so guessing gains nothing).
Reset and invitation links are signed with the secret key and expire; they
carry the password-change time, so a link stops working once it has been used.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.channels.base import OutboundMessage
from engine.channels.email import EmailChannel, SmtpConfig
from engine.settings import Settings
from engine.store.base import TrainerRole
from engine.store.models import ApiKey, Trainer

log = logging.getLogger("ancrage.accounts")

MAX_FAILED_LOGINS = 5
LOCK_DURATION = timedelta(minutes=15)
RESET_VALIDITY = timedelta(hours=2)
INVITATION_VALIDITY = timedelta(days=7)
MIN_PASSWORD_LENGTH = 10
_RESET_SALT = "ancrage.password-reset"

_hasher = PasswordHash((Argon2Hasher(),))
# Compared against when the e-mail is unknown, so both cases take the same time.
_DUMMY_HASH = _hasher.hash("ancrage-dummy-password")


class LoginFailure(StrEnum):
    INVALID = "invalid"
    LOCKED = "locked"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_problem(password: str) -> str | None:
    """Why a new password is refused (French, shown beside the field), or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Au moins {MIN_PASSWORD_LENGTH} caractères."
    return None


def normalise_email(email: str) -> str:
    return email.strip().lower()


async def find_trainer(session: AsyncSession, email: str) -> Trainer | None:
    statement = select(Trainer).where(func.lower(col(Trainer.email)) == normalise_email(email))
    return (await session.exec(statement)).first()


async def create_trainer(session: AsyncSession, *, email: str, name: str, role: str = TrainerRole.TRAINER,
                         password: str | None = None, now: datetime) -> Trainer:
    """A new account; without a password it is an invitation waiting for its link. Caller commits."""
    trainer = Trainer(email=normalise_email(email), name=name.strip(), role=TrainerRole(role),
                      password_hash=hash_password(password) if password else "",
                      password_changed_at=now if password else None, created_at=now)
    session.add(trainer)
    await session.flush()
    return trainer


async def authenticate(session: AsyncSession, *, email: str, password: str, now: datetime
                       ) -> Trainer | LoginFailure:
    """The trainer whose password this is, or why not; counts failures and locks. Caller commits."""
    trainer = await find_trainer(session, email)
    if trainer is None or not trainer.password_hash or trainer.disabled_at is not None:
        _hasher.verify(password, _DUMMY_HASH)
        return LoginFailure.INVALID
    if trainer.locked_until is not None and trainer.locked_until > now:
        return LoginFailure.LOCKED
    valid, new_hash = _hasher.verify_and_update(password, trainer.password_hash)
    if not valid:
        trainer.failed_logins += 1
        if trainer.failed_logins > MAX_FAILED_LOGINS:
            trainer.locked_until = now + LOCK_DURATION
            trainer.failed_logins = 0
            session.add(trainer)
            log.warning("trainer %s locked after repeated failed logins", trainer.id)
            return LoginFailure.LOCKED
        session.add(trainer)
        return LoginFailure.INVALID
    if new_hash is not None:
        trainer.password_hash = new_hash
    trainer.failed_logins = 0
    trainer.locked_until = None
    trainer.last_login_at = now
    session.add(trainer)
    return trainer


async def set_password(session: AsyncSession, *, trainer: Trainer, password: str, now: datetime) -> None:
    """A new password (reset or first one from an invitation); unlocks the account. Caller commits."""
    trainer.password_hash = hash_password(password)
    trainer.password_changed_at = now
    trainer.failed_logins = 0
    trainer.locked_until = None
    session.add(trainer)


# --- signed links ---------------------------------------------------------------


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt=_RESET_SALT)


def password_stamp(trainer: Trainer) -> str:
    """Changes whenever the password does (a fresh salt each time): links and sessions carry it."""
    return hashlib.sha256(trainer.password_hash.encode("utf-8")).hexdigest()[:16]


def password_link_token(settings: Settings, trainer: Trainer) -> str:
    return _serializer(settings).dumps({"t": trainer.id, "s": password_stamp(trainer)})


async def trainer_for_link(session: AsyncSession, settings: Settings, token: str, *,
                           max_age: timedelta = INVITATION_VALIDITY) -> Trainer | None:
    """The account a reset/invitation link is for, if it is genuine, unexpired and unused."""
    try:
        data = _serializer(settings).loads(token, max_age=int(max_age.total_seconds()))
    except (BadSignature, SignatureExpired):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("t"), int):
        return None
    trainer = await session.get(Trainer, data["t"])
    if trainer is None or trainer.disabled_at is not None or data.get("s") != password_stamp(trainer):
        return None
    if trainer.password_hash and max_age > RESET_VALIDITY:
        # An invitation link (long validity) is for accounts without a password only.
        return None
    return trainer


@dataclass(frozen=True)
class AccountMail:
    to: str
    subject: str
    body: str
    link: str


def reset_mail(settings: Settings, trainer: Trainer) -> AccountMail:
    link = f"{settings.public_url.rstrip('/')}/dashboard/reset/{password_link_token(settings, trainer)}"
    body = (f"Bonjour {trainer.name},\n\nPour choisir un nouveau mot de passe Ancrage, ouvrez ce lien "
            f"(valable 2 heures) :\n{link}\n\nSi vous n'avez rien demandé, ignorez ce message.")
    return AccountMail(trainer.email, "Ancrage : nouveau mot de passe", body, link)


def invitation_mail(settings: Settings, trainer: Trainer) -> AccountMail:
    link = f"{settings.public_url.rstrip('/')}/dashboard/invite/{password_link_token(settings, trainer)}"
    body = (f"Bonjour {trainer.name},\n\nUn compte vous a été ouvert sur le tableau de bord Ancrage. "
            f"Choisissez votre mot de passe avec ce lien (valable 7 jours) :\n{link}")
    return AccountMail(trainer.email, "Ancrage : votre accès au tableau de bord", body, link)


async def send_account_mail(settings: Settings, mail: AccountMail) -> bool:
    """Sends through the organisation's SMTP settings; without SMTP (sandbox) the link is logged."""
    if not settings.smtp_host:
        log.warning("no SMTP configured: account link for %s is %s", mail.to, mail.link)
        return False
    channel = EmailChannel(SmtpConfig(from_address=settings.email_from, host=settings.smtp_host,
                                      port=settings.smtp_port, username=settings.smtp_user,
                                      password=settings.smtp_password,
                                      starttls=settings.smtp_starttls or None))
    result = await channel.send(OutboundMessage(delivery_id=0, channel="email", to=mail.to,
                                                body=mail.body, subject=mail.subject))
    return result.accepted


# --- API keys (for the CLI and the quality manager) -----------------------------------


def hash_api_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


async def create_api_key(session: AsyncSession, name: str, trainer_id: int | None = None) -> str:
    """A new integration key; returns the plaintext (shown once), stores only its hash.

    A key bound to a trainer sees and creates only that trainer's sessions.
    The caller commits.
    """
    plaintext = "anc_" + secrets.token_urlsafe(32)
    session.add(ApiKey(name=name, key_hash=hash_api_key(plaintext), trainer_id=trainer_id))
    await session.flush()
    return plaintext


async def list_api_keys(session: AsyncSession) -> list[tuple[ApiKey, str | None]]:
    """Every key with the e-mail of the trainer it is bound to, newest first."""
    statement = (select(ApiKey, Trainer.email).join(Trainer, col(Trainer.id) == col(ApiKey.trainer_id),
                                                    isouter=True)
                 .order_by(col(ApiKey.id).desc()))
    return [(key, email) for key, email in (await session.exec(statement)).all()]


async def revoke_api_key(session: AsyncSession, *, key_id: int, now: datetime) -> bool:
    key = await session.get(ApiKey, key_id)
    if key is None or key.revoked_at is not None:
        return False
    key.revoked_at = now
    session.add(key)
    return True
