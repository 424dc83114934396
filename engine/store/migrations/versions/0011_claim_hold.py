"""The claim's per-learner hold: partial indexes on a delivery's rows still on their way

A learner's message is not claimed while an earlier one of the same enrolment is
``queued``/``sending``, or ``planned`` again for a retry (``attempts > 0``): see
``engine.store.deliveries._held_behind_earlier``. Each condition is one EXISTS
probing its own small partial index (a few thousand rows under a backlog, none
when idle). With only the (enrollment_id, ...) unique index, the same claim on
the soak's 54,000 deliveries probed every row of each enrolment and its cost
estimate set off PostgreSQL's JIT: 257 ms a claim of 250 rows; with these two,
3 ms (EXPLAIN ANALYZE, loaded machine).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_IN_FLIGHT = sa.text("status IN ('queued', 'sending')")
_RETRYING = sa.text("status = 'planned' AND attempts > 0")


def upgrade() -> None:
    with op.batch_alter_table("delivery") as batch_op:
        batch_op.create_index("ix_delivery_in_flight", ["enrollment_id", "due_at"], unique=False,
                              postgresql_where=_IN_FLIGHT, sqlite_where=_IN_FLIGHT)
        batch_op.create_index("ix_delivery_retrying", ["enrollment_id", "id"], unique=False,
                              postgresql_where=_RETRYING, sqlite_where=_RETRYING)


def downgrade() -> None:
    with op.batch_alter_table("delivery") as batch_op:
        batch_op.drop_index("ix_delivery_retrying")
        batch_op.drop_index("ix_delivery_in_flight")
