"""Build the channels a process uses from plain settings, through an explicit table.

No adapter registers itself on import: the table below is the whole list,
so what runs is what you read here. Settings shape (every section optional)::

    {
      "mode": "live" | "sandbox",        # sandbox: every channel stores, none sends
      "twilio": {account_sid, auth_token, messaging_service_sid | from_number,
                 whatsapp_from?, status_callback_base?, api_base?, timeout?},
      "fcm":    {service_account: {...} | service_account_file: path,
                 project_id?, api_base?, timeout?},
      "smtp":   {from_address, from_name?, host?, port?, username?, password?,
                 starttls?, use_tls?, reply_to?, timeout?},
    }
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar, get_args

from engine.channels.base import ChannelBase, ChannelName
from engine.channels.email import EmailChannel, SmtpConfig
from engine.channels.fcm import FcmChannel, FcmConfig
from engine.channels.sandbox import SandboxChannel, SandboxSink
from engine.channels.twilio import TwilioChannel, TwilioConfig

Channels = dict[str, ChannelBase]
T = TypeVar("T")
CHANNEL_NAMES: tuple[str, ...] = get_args(ChannelName)


def _twilio(section: Mapping[str, Any]) -> Channels:
    config = _config(TwilioConfig, section, "twilio")
    channels: Channels = {}
    if config.messaging_service_sid or config.from_number:
        channels["sms"] = TwilioChannel(config, name="sms")
    if config.whatsapp_from:
        channels["whatsapp"] = TwilioChannel(config, name="whatsapp")
    return channels


def _fcm(section: Mapping[str, Any]) -> Channels:
    values = dict(section)
    path = values.pop("service_account_file", None)
    if path is not None and "service_account" not in values:
        values["service_account"] = json.loads(Path(path).read_text(encoding="utf-8"))
    return {"push": FcmChannel(_config(FcmConfig, values, "fcm"))}


def _smtp(section: Mapping[str, Any]) -> Channels:
    return {"email": EmailChannel(_config(SmtpConfig, section, "smtp"))}


PROVIDERS: dict[str, Callable[[Mapping[str, Any]], Channels]] = {
    "twilio": _twilio,
    "fcm": _fcm,
    "smtp": _smtp,
}


def build_channels(
    settings: Mapping[str, Any], *, sandbox_sink: SandboxSink | None = None
) -> Channels:
    """Channels by name ("sms", "whatsapp", "push", "email", "sandbox").

    "sandbox" is always present. In sandbox mode every channel name maps to a
    SandboxChannel sharing one sink, and provider sections are ignored.
    """
    mode = settings.get("mode", "live")
    if mode not in ("live", "sandbox"):
        raise ValueError(f"channels mode must be 'live' or 'sandbox', not {mode!r}")
    if mode == "sandbox":
        return {name: SandboxChannel(sandbox_sink, name=name) for name in CHANNEL_NAMES}
    channels: Channels = {}
    for provider, build in PROVIDERS.items():
        section = settings.get(provider)
        if section:
            channels.update(build(section))
    channels["sandbox"] = SandboxChannel(sandbox_sink)
    return channels


async def close_channels(channels: Mapping[str, ChannelBase]) -> None:
    """Release every channel's connections (worker shutdown)."""
    for channel in channels.values():
        await channel.aclose()


def _config(cls: type[T], section: Mapping[str, Any], provider: str) -> T:
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = set(section) - known
    if unknown:
        raise ValueError(f"unknown {provider} settings: {', '.join(sorted(unknown))}")
    try:
        return cls(**section)
    except TypeError as exc:
        raise ValueError(f"incomplete {provider} settings: {exc}") from None
