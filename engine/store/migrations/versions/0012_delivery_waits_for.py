"""delivery.waits_for_prompt_id: the open question a held question waits for

A question due while the learner can still answer another one on that channel
waits. It used to be looked at again every hour until that question closed (a
claim, a decision and two audit rows an hour: 72 for a silent learner's three-day
question). It now waits until the other question's deadline, and goes out as soon
as the learner closes it (``engine.services.waiting.resume_waiting``): this column
names the question it waits for. No index: the release looks a learner's rows up
by ``learner_id``.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("delivery") as batch_op:
        batch_op.add_column(sa.Column("waits_for_prompt_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("delivery") as batch_op:
        batch_op.drop_column("waits_for_prompt_id")
