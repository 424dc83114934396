"""``ancrage preview``: the real dated timeline of a campaign for one session end.

Each row is what the engine would plan, with the message rendered for a sample
learner on the first channel of the step, so a designer sees dates, channels and
words together before anyone receives them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from engine.campaign.schema import Campaign
from engine.content.library import Channel, ContentLibrary, lesson_text
from engine.content.lint import MAX_SMS_SEGMENTS
from engine.content.render import RenderError, render
from engine.content.sms import sms_info
from engine.core.prompts import format_question, format_quiz_item
from engine.core.timeline import PlannedSend, plan_timeline


@dataclass(frozen=True)
class PreviewRow:
    send: PlannedSend
    channel: str
    text: str
    sms_segments: int | None
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        send = self.send
        return {
            "step": send.step_id,
            "occurrence": send.occurrence,
            "kind": send.kind,
            "content": send.content_ref,
            "recipient": send.recipient,
            "channels": list(send.channels),
            "channel": self.channel,
            "nominal_at": send.nominal_at.isoformat(),
            "due_at_local": send.local_due_at.isoformat(),
            "due_at_utc": send.due_at.isoformat(),
            "shifted": send.shifted_reason,
            "text": self.text,
            "sms_segments": self.sms_segments,
            "notes": list(self.notes),
        }


def message_template(send: PlannedSend, library: ContentLibrary, channel: str, locale: str) -> str:
    """The template text a planned send renders to on ``channel`` (first question for a quiz)."""
    ref = send.content_ref or ""
    if send.kind == "lesson" and ref in library.lessons:
        subject, body = lesson_text(library.lessons[ref], cast(Channel, channel))
        return f"{subject}\n{body}" if subject and channel != "sms" else body
    if send.kind in ("quiz", "review") and ref in library.banks:
        return format_quiz_item(library.banks[ref].items[0], locale=locale)
    if send.kind in ("survey", "checkin"):
        source = library.surveys if send.kind == "survey" else library.checkins
        if ref in source:
            survey = source[ref]
            first = format_question(survey.questions[0], locale=locale)
            return f"{survey.intro}\n{first}" if survey.intro else first
    return ref


def build_preview(campaign: Campaign, library: ContentLibrary, *, session_end: datetime,
                  tz: ZoneInfo, context: Mapping[str, Any]) -> list[PreviewRow]:
    """Every planned send with its rendered text for the sample learner in ``context``."""
    rows = []
    for send in plan_timeline(campaign, anchor=session_end, tz=tz):
        channel = "dashboard" if send.recipient == "trainer" else (send.channels[0] if send.channels else "sms")
        template = message_template(send, library, channel, campaign.locale)
        try:
            text = render(template, context)
        except RenderError as exc:
            text = f"[cannot render: {exc}]"
        segments = _sms_segments(send, library, campaign.locale, context, text if channel in ("sms", "whatsapp") else None)
        step = campaign.step(send.step_id)
        notes = []
        if step is not None and step.audience == "at_risk":
            notes.append("only for learners marked at risk")
        if send.kind == "review":
            notes.append("the item is chosen by FSRS at send time; a slot with nothing due is skipped")
        rows.append(PreviewRow(send, channel, text, segments, tuple(notes)))
    return rows


def _sms_segments(send: PlannedSend, library: ContentLibrary, locale: str, context: Mapping[str, Any],
                  shown: str | None) -> int | None:
    """Segments of the SMS this send would be when SMS or WhatsApp is one of its channels
    (the first, or a fallback): the cost ``validate`` warns about."""
    if shown is not None:
        return sms_info(shown).segments
    if not any(channel in ("sms", "whatsapp") for channel in send.channels):
        return None
    try:
        return sms_info(render(message_template(send, library, "sms", locale), context)).segments
    except RenderError:
        return None


def format_preview(campaign: Campaign, rows: list[PreviewRow], tz: ZoneInfo) -> str:
    """A readable timeline: one block per send, dates in the learner's zone."""
    lines = [f"{campaign.title} ({campaign.campaign}), time zone {tz.key}", ""]
    for row in rows:
        send = row.send
        local = send.local_due_at
        stamp = f"{_DAYS[local.weekday()]} {local:%Y-%m-%d %H:%M %Z}"
        head = f"{stamp}  {send.step_id}"
        if send.occurrence:
            head += f" #{send.occurrence + 1}"
        head += f"  [{send.kind} -> {send.recipient}, {row.channel}]"
        lines.append(head)
        if send.shifted_reason:
            lines.append(f"    moved from {send.nominal_at:%a %Y-%m-%d %H:%M}: {send.shifted_reason}")
        for note in row.notes:
            lines.append(f"    ({note})")
        for text_line in row.text.splitlines():
            lines.append(f"    | {text_line}")
        if row.sms_segments is not None:
            by_sms = "" if row.channel in ("sms", "whatsapp") else " when sent by SMS"
            long = " (long: validate warns)" if row.sms_segments > MAX_SMS_SEGMENTS else ""
            plural = "s" if row.sms_segments > 1 else ""
            lines.append(f"    ({row.sms_segments} SMS segment{plural}{by_sms}{long})")
        lines.append("")
    return "\n".join(lines)


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # the tools speak English throughout
