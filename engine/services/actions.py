"""Carrying out branch actions (from a reply or a silence): send, alert, mark, goto, stop.

The pure core decides *which* actions hold (:mod:`engine.core.branching`); this
module turns them into rows. Every row is keyed by the event that caused it
(``trigger``), so processing the same reply twice creates nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.campaign.schema import Action, Step
from engine.core.timeline import plan_action_time, plan_step
from engine.services.catalog import PinnedCampaign
from engine.store.base import DeliveryOrigin
from engine.store.models import Alert, AuditEvent, Delivery, Enrollment, Learner


async def _add_delivery(session: AsyncSession, delivery: Delivery) -> bool:
    """Adds a branch delivery unless the same trigger already created it."""
    exists = (await session.exec(select(Delivery.id).where(
        Delivery.enrollment_id == delivery.enrollment_id, Delivery.step_id == delivery.step_id,
        Delivery.occurrence == delivery.occurrence, Delivery.origin == delivery.origin))).first()
    if exists is not None:
        return False
    session.add(delivery)
    return True


async def raise_alert(session: AsyncSession, *, learner: Learner, enrollment: Enrollment | None, kind: str,
                      reason: str, at: datetime) -> Alert:
    """An alert on the trainer's dashboard (low rating, detractor, blocked plan, complaint...)."""
    alert = Alert(learner_id=learner.id or 0, enrollment_id=enrollment.id if enrollment else None,
                  session_id=enrollment.session_id if enrollment else None, kind=kind, reason=reason,
                  created_at=at)
    session.add(alert)
    return alert


async def run_actions(session: AsyncSession, *, pinned: PinnedCampaign, enrollment: Enrollment,
                      learner: Learner, step: Step, actions: Sequence[Action], at: datetime,
                      trigger: int) -> list[str]:
    """Applies branch actions; returns a short description of each, for the audit trail."""
    from engine.services.enrolment import stop as stop_enrolment

    campaign = pinned.campaign
    zone = ZoneInfo(learner.timezone)
    done: list[str] = []
    assert enrollment.id is not None and learner.id is not None
    for index, action in enumerate(actions):
        key = trigger * 10 + index
        if action.alert:
            await raise_alert(session, learner=learner, enrollment=enrollment, kind="branch",
                              reason=action.reason or "", at=at)
            done.append(f"alert {action.alert}: {action.reason}")
        if action.mark == "at_risk" and not learner.at_risk:
            learner.at_risk = True
            session.add(learner)
            done.append("marked at risk")
        kind = action.send_kind
        if kind is not None:
            due = plan_action_time(at, action.at, campaign.window_for(step), zone)
            ref = getattr(action, kind)
            created = await _add_delivery(session, Delivery(
                enrollment_id=enrollment.id, learner_id=learner.id, step_id=step.id, occurrence=key,
                kind=kind, recipient="learner", content_ref=ref,
                channels=list(action.channels or campaign.channels_for(step)), due_at=due,
                origin=DeliveryOrigin.BRANCH))
            if created:
                done.append(f"{kind} {ref} at {due.isoformat()}")
        if action.goto:
            target = campaign.step(action.goto)
            if target is not None:
                for send in plan_step(campaign, target, anchor=at, tz=zone):
                    await _add_delivery(session, Delivery(
                        enrollment_id=enrollment.id, learner_id=learner.id, step_id=target.id,
                        occurrence=key * 100 + send.occurrence, kind=send.kind, recipient=send.recipient,
                        content_ref=send.content_ref, channels=list(send.channels),
                        due_at=plan_action_time(at, None, campaign.window_for(target), zone)
                        if send.occurrence == 0 else send.due_at, origin=DeliveryOrigin.BRANCH))
                done.append(f"goto {target.id}")
        if action.stop:
            await stop_enrolment(session, enrollment=enrollment, reason=f"branch of step {step.id}", now=at)
            done.append("stopped")
    if done:
        session.add(AuditEvent(entity="enrollment", entity_id=enrollment.id, action="branch",
                               detail={"step": step.id, "trigger": trigger, "actions": done}, at=at))
    return done
