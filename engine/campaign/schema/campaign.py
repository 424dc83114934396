"""A whole campaign file and its defaults."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from engine.campaign.schema.fields import (
    CHANNELS,
    Anchor,
    ChannelName,
    DurationField,
    OverduePolicy,
    _Model,
)
from engine.campaign.schema.step import Step
from engine.campaign.schema.window import SendWindow
from engine.core.offsets import Duration, parse_duration


class Defaults(_Model):
    channels: list[ChannelName] = Field(default_factory=lambda: list(CHANNELS[:1]))
    window: SendWindow = Field(default_factory=SendWindow)
    reply_within: DurationField = Field(default_factory=lambda: parse_duration("3d"))
    overdue: OverduePolicy = "next_window"
    expire_after: DurationField = Field(default_factory=lambda: parse_duration("2d"))
    timezone: str = "Europe/Paris"

    @field_validator("channels")
    @classmethod
    def _non_empty(cls, value: list[ChannelName]) -> list[ChannelName]:
        if not value:
            raise ValueError("list at least one channel (sms, whatsapp, push, email)")
        if len(set(value)) != len(value):
            raise ValueError("a channel is listed twice")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}' (e.g. Europe/Paris)") from None
        return value


class Campaign(_Model):
    """A whole campaign file."""

    campaign: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", description="Slug, unique.")
    title: str
    description: str | None = None
    locale: Literal["fr", "en"] = "fr"
    starts: Anchor = "session_end"
    defaults: Defaults = Field(default_factory=Defaults)
    faq_autoreply: bool = Field(
        default=False, description="Answer confident FAQ matches automatically."
    )
    steps: list[Step] = Field(min_length=1)

    def step(self, step_id: str) -> Step | None:
        return next((step for step in self.steps if step.id == step_id), None)

    def window_for(self, step: Step) -> SendWindow:
        return step.window or self.defaults.window

    def channels_for(self, step: Step) -> list[ChannelName]:
        return list(step.channels or self.defaults.channels)

    def reply_within_for(self, step: Step) -> Duration:
        return step.reply_within or self.defaults.reply_within

    def overdue_for(self, step: Step) -> OverduePolicy:
        return step.overdue or self.defaults.overdue
