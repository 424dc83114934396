"""Small campaigns and sessions for the worker tests: every day open, SMS-first."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.support.engine_harness import write_campaign

# A Tuesday, mid-morning in Paris: inside any working-day window.
START = datetime(2026, 6, 2, 8, 0, tzinfo=UTC)

ALWAYS_OPEN = """
campaign: {name}
title: Worker test
defaults:
  channels: {channels}
  window: {{days: [mon, tue, wed, thu, fri, sat, sun], from: "00:00", to: "23:59"}}
steps:
  - id: hello
    at: +10min
    message: "Bonjour {{{{ learner.first_name }}}}, message {{{{ learner.last_name }}}}."
"""


def write_open_campaign(folder: Path, *, name: str = "open", channels: str = "[sms, email]") -> Path:
    """One message 10 minutes after the session ends, any day, any hour."""
    return write_campaign(folder, ALWAYS_OPEN.format(name=name, channels=channels), f"{name}.yaml")


def phone(index: int) -> str:
    return f"+3361{index:07d}"


def numbered(count: int, **extra: Any) -> list[dict[str, Any]]:
    return [{"first_name": f"L{i}", "last_name": f"n{i}", "phone": phone(i), **extra} for i in range(count)]
