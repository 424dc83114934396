"""One settings object for the whole engine, read from the environment (``ANCRAGE_*``).

Tests build their own :class:`Settings` and pass it in; nothing reads the
environment behind a caller's back.

The organisation's folder (``ANCRAGE_HOME``, ``ancrage --root``, or else the
working folder) holds ``campaigns/``, ``content/`` and ``var/``; relative paths in
the other settings are read from there, never from where the package is installed.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The source checkout: for the repository's own tests and benchmarks only. The
# engine never reads campaigns, content or data from here (see ``home``).
PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Secrets published in this code or its docs: never accepted as a signing key.
PUBLIC_SECRETS = frozenset({"", "change-me-in-production", "changeme", "secret"})
MIN_SECRET_CHARS = 32
SECRET_FILE = "secret_key"
HOW_TO_MAKE_A_SECRET = ('python -c "import secrets; print(secrets.token_urlsafe(32))"')


class Settings(BaseSettings):
    """Runtime configuration; every field has a working embedded default."""

    model_config = SettingsConfigDict(env_prefix="ANCRAGE_", extra="ignore")

    home: Path = Field(
        default_factory=Path.cwd,
        description="The organisation's folder (campaigns/, content/, var/); default: the working folder.",
    )
    data_dir: Path = Field(default=Path("var"), description="SQLite file, private Redis, demo data.")
    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    redis_url: str | None = Field(default=None, validation_alias="REDIS_URL")
    redis_prefix: str = "ancrage"
    campaigns_dir: Path = Path("campaigns")
    content_dir: Path = Path("content")
    public_url: str = "http://127.0.0.1:8000"
    secret_key: str = Field(default="", description=(
        "Signs answer links, unsubscribe links and app tokens. Required outside the sandbox "
        f"(at least {MIN_SECRET_CHARS} characters); in the sandbox one is generated per data "
        f"folder ({SECRET_FILE}, mode 0600)."), repr=False)
    default_timezone: str = "Europe/Paris"
    default_region: str = "FR"
    ticket_response_hours: int = 48
    late_enrolment_days: int = Field(
        default=14, description="Enrolling into a session that ended longer ago than this is refused "
        "unless the operator says when the campaign starts (--start now | session-end).")
    default_consent: str = Field(
        default="sms,whatsapp,push,email", description="Channels an imported learner consents to when the "
        "file or the API says nothing (comma-separated; 'none' for none).")
    # Quality evidence: no figure on fewer respondents is published (nobody is identifiable).
    public_min_respondents: int = 5

    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_from: str | None = None
    twilio_whatsapp_from: str | None = None
    twilio_api_base: str | None = None
    twilio_rate_per_second: float = 1.0
    twilio_concurrency: int = Field(
        default=10, description="Provider calls in flight at once per worker process (Twilio channel)."
    )

    fcm_service_account_file: Path | None = None
    fcm_api_base: str | None = None

    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    email_from: str = "Ancrage <suivi@ancrage.local>"

    sandbox: bool = Field(
        default=True, description="Route every channel to the sandbox (demo, trial runs)."
    )
    sandbox_public: bool = Field(
        default=False, description="Serve the sandbox pages (/sandbox) to clients other than "
        "this machine. Anyone reaching them reads every learner's messages and answers as them.")

    @model_validator(mode="after")
    def _strong_secret(self) -> Settings:
        """Outside the sandbox a weak or public key is refused; in it one is made per data folder."""
        if self.secret_key in PUBLIC_SECRETS and self.sandbox:
            self.secret_key = sandbox_secret(self.data_dir)
        elif not self.sandbox and not is_strong_secret(self.secret_key):
            raise ValueError(
                "ANCRAGE_SECRET_KEY is missing, public or too weak (it signs every answer link "
                f"and app token): set at least {MIN_SECRET_CHARS} random characters, made with "
                f"{HOW_TO_MAKE_A_SECRET}")
        return self

    @model_validator(mode="after")
    def _inside_home(self) -> Settings:
        """Relative folders are the organisation's: they are read from ``home``."""
        self.home = self.home.expanduser().resolve()
        for name in ("data_dir", "campaigns_dir", "content_dir"):
            value: Path = getattr(self, name).expanduser()
            if not value.is_absolute():
                object.__setattr__(self, name, self.home / value)
        return self

    @property
    def consent_defaults(self) -> dict[str, bool]:
        """``default_consent`` as the learner's ``consent_*`` fields."""
        chosen = {part.strip().lower() for part in self.default_consent.split(",") if part.strip()}
        return {f"consent_{channel}": channel in chosen for channel in ("sms", "whatsapp", "push", "email")}

    @property
    def resolved_database_url(self) -> str:
        """``DATABASE_URL`` or the embedded SQLite file under ``data_dir``."""
        if self.database_url:
            return _async_url(self.database_url)
        return f"sqlite+aiosqlite:///{self.data_dir / 'ancrage.sqlite3'}"


def _async_url(url: str) -> str:
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


def is_strong_secret(value: str) -> bool:
    """Long enough, not a published default, and not a run of a few repeated characters."""
    return (value not in PUBLIC_SECRETS and len(value) >= MIN_SECRET_CHARS
            and len(set(value)) >= 10)


def sandbox_secret(data_dir: Path) -> str:
    """The data folder's own signing key, created (readable by its owner only) on first use."""
    path = data_dir / SECRET_FILE
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    draft = data_dir / f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(value + "\n")
    try:  # a hard link appears whole or not at all, and never replaces another process's key
        os.link(draft, path)
    except FileExistsError:
        value = path.read_text(encoding="ascii").strip()
    finally:
        draft.unlink()
    return value
