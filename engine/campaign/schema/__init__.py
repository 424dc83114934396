"""The campaign language: pydantic models for the YAML files in ``campaigns/``.

These models check the shape of one file. Cross-references (content that must
exist, ``goto`` targets, template variables) are checked by :mod:`engine.campaign.lint`,
which knows the content library.

One module per concept: the field types (:mod:`.fields`), the send window
(:mod:`.window`), branches (:mod:`.branches`), a step (:mod:`.step`) and the
whole file (:mod:`.campaign`).
"""

from engine.campaign.schema.branches import Action, Condition, OnSilence, Then
from engine.campaign.schema.campaign import Campaign, Defaults
from engine.campaign.schema.fields import (
    CHANNELS,
    SEND_KINDS,
    STEP_KINDS,
    WEEKDAYS,
    Anchor,
    ChannelName,
    DurationField,
    OffsetField,
    OverduePolicy,
    Recipient,
    TimeField,
    Weekday,
)
from engine.campaign.schema.step import Step
from engine.campaign.schema.window import Repeat, SendWindow

__all__ = [
    "CHANNELS", "SEND_KINDS", "STEP_KINDS", "WEEKDAYS", "Action", "Anchor", "Campaign", "ChannelName",
    "Condition", "Defaults", "DurationField", "OffsetField", "OnSilence", "OverduePolicy", "Recipient",
    "Repeat", "SendWindow", "Step", "Then", "TimeField", "Weekday",
]
