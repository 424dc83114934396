"""Persistence: SQLModel tables, engines and sessions, migrations and queries.

The database is the source of truth; every function here takes an
``AsyncSession`` from the caller and never commits on its behalf.
"""

from engine.store.audit import record_audit, record_audits
from engine.store.base import (
    TERMINAL_DELIVERY_STATUSES,
    Channel,
    DeliveryOrigin,
    DeliveryStatus,
    EnrollmentStatus,
    InboundStatus,
    PromptKind,
    PromptStatus,
    Recipient,
    TicketAuthor,
    TicketStatus,
)
from engine.store.db import create_engine, is_postgres, session_factory
from engine.store.deliveries import (
    advance_delivery_status,
    claim_due_deliveries,
    claim_due_ids,
    find_stale_sending,
    transition_delivery,
)
from engine.store.inbound import store_inbound_event
from engine.store.models import *  # noqa: F403
from engine.store.models import __all__ as _model_names
from engine.store.queries import (
    find_learner_by_phone,
    open_prompt_for,
    record_opt_in,
    record_opt_out,
)
from engine.store.types import JSONType, UTCDateTime, utc_now

__all__ = [
    *_model_names,
    "TERMINAL_DELIVERY_STATUSES",
    "Channel",
    "DeliveryOrigin",
    "DeliveryStatus",
    "EnrollmentStatus",
    "InboundStatus",
    "JSONType",
    "PromptKind",
    "PromptStatus",
    "Recipient",
    "TicketAuthor",
    "TicketStatus",
    "UTCDateTime",
    "advance_delivery_status",
    "claim_due_deliveries",
    "claim_due_ids",
    "create_engine",
    "find_learner_by_phone",
    "find_stale_sending",
    "is_postgres",
    "open_prompt_for",
    "record_audit",
    "record_audits",
    "record_opt_in",
    "record_opt_out",
    "session_factory",
    "store_inbound_event",
    "transition_delivery",
    "utc_now",
]
