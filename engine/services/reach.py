"""Who can be reached on which channel: consent, opt-outs and addresses."""

from __future__ import annotations

from collections.abc import Sequence

from engine.store.models import Learner


def address_for(learner: Learner, channel: str, recipient: str, push_token: str | None,
                confirmation: bool = False) -> str | None:
    """The address to use on ``channel``, or None when that channel cannot reach the recipient.

    A learner who opted out of a channel (STOP) or withheld consent is never
    reachable on it, except for the one confirmation of that very request
    (``confirmation``); the manager is reached by SMS or email only.
    """
    if recipient == "manager":
        if channel == "email":
            return learner.manager_email
        if channel in ("sms", "whatsapp"):
            return learner.manager_phone
        return None
    if not confirmation and getattr(learner, f"opted_out_{channel}_at", None) is not None:
        return None
    if not confirmation and not getattr(learner, f"consent_{channel}", False):
        return None
    if channel in ("sms", "whatsapp"):
        return learner.phone
    if channel == "email":
        return learner.email
    if channel == "push":
        return push_token
    return None


def choose_channel(preferences: Sequence[str], *, learner: Learner, recipient: str,
                   push_token: str | None, tried: Sequence[str],
                   confirmation: bool = False) -> tuple[str, str] | None:
    """The first channel in preference order, not yet tried, that reaches the recipient."""
    for channel in preferences:
        if channel in tried:
            continue
        address = address_for(learner, channel, recipient, push_token, confirmation)
        if address:
            return channel, address
    return None


def unreachable_reason(preferences: Sequence[str], *, learner: Learner, recipient: str, tried: Sequence[str]) -> str:
    """Why no channel is left, channel by channel, in words a trainer understands."""
    if tried:
        return f"every channel failed ({', '.join(tried)})"
    reasons = []
    for channel in preferences:
        if recipient == "learner" and getattr(learner, f"opted_out_{channel}_at", None) is not None:
            reasons.append(f"{channel}: opted out")
        elif recipient == "learner" and not getattr(learner, f"consent_{channel}", False):
            reasons.append(f"{channel}: no consent")
        else:
            reasons.append(f"{channel}: no address")
    return "no reachable channel (" + "; ".join(reasons) + ")"
