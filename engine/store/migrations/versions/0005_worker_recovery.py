"""Worker faults made visible: a session's problem, session-level alerts, idempotent ticket answers

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from engine.store import types as store_types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("training_session") as batch:
        batch.add_column(sa.Column("problem", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("problem_at", store_types.UTCDateTime(), nullable=True))
    with op.batch_alter_table("alert") as batch:
        batch.alter_column("learner_id", existing_type=sa.Integer(), nullable=True)
    with op.batch_alter_table("ticket_message") as batch:
        batch.add_column(sa.Column("author_trainer_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("idempotency_key", sa.String(length=128), nullable=True))
        batch.create_foreign_key(op.f("fk_ticket_message_author_trainer_id_trainer"), "trainer",
                                 ["author_trainer_id"], ["id"])
        batch.create_unique_constraint(op.f("uq_ticket_message_ticket_id_idempotency_key"),
                                       ["ticket_id", "idempotency_key"])


def downgrade() -> None:
    with op.batch_alter_table("ticket_message") as batch:
        batch.drop_constraint(op.f("uq_ticket_message_ticket_id_idempotency_key"), type_="unique")
        batch.drop_constraint(op.f("fk_ticket_message_author_trainer_id_trainer"), type_="foreignkey")
        batch.drop_column("idempotency_key")
        batch.drop_column("author_trainer_id")
    op.execute("DELETE FROM alert WHERE learner_id IS NULL")
    with op.batch_alter_table("alert") as batch:
        batch.alter_column("learner_id", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("training_session") as batch:
        batch.drop_column("problem_at")
        batch.drop_column("problem")
