"""One settings object for the whole engine, read from the environment (``ANCRAGE_*``).

Tests build their own :class:`Settings` and pass it in; nothing reads the
environment behind a caller's back.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Runtime configuration; every field has a working embedded default."""

    model_config = SettingsConfigDict(env_prefix="ANCRAGE_", extra="ignore")

    data_dir: Path = Field(default=PROJECT_ROOT / "var")
    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    redis_url: str | None = Field(default=None, validation_alias="REDIS_URL")
    redis_prefix: str = "ancrage"
    campaigns_dir: Path = PROJECT_ROOT / "campaigns"
    content_dir: Path = PROJECT_ROOT / "content"
    public_url: str = "http://127.0.0.1:8000"
    secret_key: str = "change-me-in-production"
    default_timezone: str = "Europe/Paris"
    default_region: str = "FR"
    ticket_response_hours: int = 48
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
