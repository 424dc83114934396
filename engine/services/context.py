"""The template context of one delivery: learner, session, trainer, manager, links, campaign."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from engine.campaign.schema import Campaign
from engine.links import sign
from engine.services.compose import UNSUBSCRIBE_PURPOSE, Recipient
from engine.settings import Settings
from engine.store.models import Delivery, Enrollment, Learner, Trainer, TrainingSession

UNSUBSCRIBE_VALIDITY = timedelta(days=365)


async def recipient_for(session: AsyncSession, settings: Settings, *, delivery: Delivery, learner: Learner,
                        enrollment: Enrollment, campaign: Campaign) -> Recipient:
    """Everything a template may name for this delivery (``session.get`` hits the identity map)."""
    training = await session.get(TrainingSession, enrollment.session_id) if enrollment.session_id else None
    trainer = await session.get(Trainer, training.trainer_id) if training and training.trainer_id else None
    base = settings.public_url.rstrip("/")

    def unsubscribe() -> str:
        return f"{base}/u/" + sign(settings.secret_key, purpose=UNSUBSCRIBE_PURPOSE,
                                   data={"l": learner.id}, expires_at=delivery.due_at + UNSUBSCRIBE_VALIDITY)

    context: dict[str, Any] = {
        "learner": {"first_name": learner.first_name, "last_name": learner.last_name,
                    "email": learner.email or "", "locale": learner.locale, "phone": learner.phone or ""},
        "session": {"title": training.title if training else "", "ends_at": training.ends_at if training else None,
                    "trainer_name": trainer.name if trainer else "", "location": training.location or "" if training else ""},
        "trainer": {"name": trainer.name if trainer else "", "email": trainer.email if trainer else ""},
        "manager": {"name": learner.manager_name or "", "email": learner.manager_email or ""},
        "links": Links({"answer": f"{base}/r", "app": f"{base}/app",
                        "memo": f"{base}/m/{delivery.content_ref or ''}"}, unsubscribe=unsubscribe),
        "campaign": {"title": campaign.title},
    }
    return Recipient(context=context, delivery_id=delivery.id or 0, public_url=settings.public_url,
                     secret=settings.secret_key, locale=learner.locale)


class Links(Mapping[str, str]):
    """A template's ``links``; the unsubscribe link (an HMAC per delivery) is signed only
    when the template names it, which few do: most messages never pay for it."""

    def __init__(self, fixed: dict[str, str], *, unsubscribe: Callable[[], str]) -> None:
        self._values = dict(fixed)
        self._unsubscribe: Callable[[], str] | None = unsubscribe

    def __getitem__(self, key: str) -> str:
        if key == "unsubscribe" and self._unsubscribe is not None:
            self._values["unsubscribe"], self._unsubscribe = self._unsubscribe(), None
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        yield from self._values
        if self._unsubscribe is not None:
            yield "unsubscribe"

    def __len__(self) -> int:
        return len(self._values) + (self._unsubscribe is not None)
