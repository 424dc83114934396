"""Building channels from settings: explicit table, no network at build time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.channels.email import EmailChannel
from engine.channels.fcm import FcmChannel
from engine.channels.registry import build_channels, close_channels
from engine.channels.sandbox import SandboxChannel, SandboxRecord
from engine.channels.twilio import TwilioChannel
from engine.fakes.fake_fcm import fake_service_account

TWILIO = {
    "account_sid": "AC" + "0" * 32,
    "auth_token": "token",
    "messaging_service_sid": "MG" + "1" * 32,
    "whatsapp_from": "+14155238886",
}


async def test_live_settings_build_every_provider(tmp_path: Path) -> None:
    key_file = tmp_path / "firebase.json"
    key_file.write_text(json.dumps(fake_service_account("http://127.0.0.1:1/token")))
    channels = build_channels(
        {
            "twilio": TWILIO,
            "fcm": {"service_account_file": str(key_file), "api_base": "http://127.0.0.1:1"},
            "smtp": {"from_address": "suivi@ancrage.example.org", "host": "127.0.0.1"},
            "database_url": "sqlite://",  # unrelated settings are ignored
        }
    )
    try:
        assert sorted(channels) == ["email", "push", "sandbox", "sms", "whatsapp"]
        assert isinstance(channels["sms"], TwilioChannel) and channels["sms"].name == "sms"
        assert isinstance(channels["whatsapp"], TwilioChannel)
        assert channels["whatsapp"].name == "whatsapp"
        assert isinstance(channels["push"], FcmChannel)
        assert isinstance(channels["email"], EmailChannel)
        assert isinstance(channels["sandbox"], SandboxChannel)
    finally:
        await close_channels(channels)


def test_missing_sections_mean_missing_channels() -> None:
    channels = build_channels({"twilio": {**TWILIO, "whatsapp_from": None}})
    assert sorted(channels) == ["sandbox", "sms"]


async def test_sandbox_mode_stands_in_for_every_channel() -> None:
    stored: list[SandboxRecord] = []

    async def sink(record: SandboxRecord) -> None:
        stored.append(record)

    channels = build_channels({"mode": "sandbox", "twilio": TWILIO}, sandbox_sink=sink)
    assert sorted(channels) == ["email", "push", "sandbox", "sms", "whatsapp"]
    assert all(isinstance(c, SandboxChannel) and c.name == n for n, c in channels.items())


@pytest.mark.parametrize(
    "settings",
    [
        {"mode": "dry"},
        {"twilio": {**TWILIO, "acount_sid": "typo"}},
        {"smtp": {"host": "127.0.0.1"}},
    ],
)
def test_bad_settings_are_reported(settings: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        build_channels(settings)
