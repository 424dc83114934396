"""Dashboard: ticket category and assignee, learner notes, at-risk reason, task done state

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from engine.store import types as store_types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ticket") as batch:
        batch.add_column(sa.Column("category", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("assignee_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_ticket_assignee_id_trainer", "trainer", ["assignee_id"], ["id"])
        batch.create_index("ix_ticket_assignee_id", ["assignee_id"], unique=False)
        batch.create_check_constraint(
            "category", "category IN ('question', 'difficulte', 'reclamation')")
    with op.batch_alter_table("alert") as batch:
        batch.add_column(sa.Column("acknowledged_by_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("done_at", store_types.UTCDateTime(), nullable=True))
        batch.create_foreign_key("fk_alert_acknowledged_by_id_trainer", "trainer",
                                 ["acknowledged_by_id"], ["id"])
    with op.batch_alter_table("learner") as batch:
        batch.add_column(sa.Column("at_risk_reason", sa.String(length=300), nullable=True))
    op.create_table(
        "learner_note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("learner_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.String(), nullable=False),
        sa.Column("created_at", store_types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["author_id"], ["trainer.id"],
                                name="fk_learner_note_author_id_trainer"),
        sa.ForeignKeyConstraint(["learner_id"], ["learner.id"],
                                name="fk_learner_note_learner_id_learner"),
        sa.PrimaryKeyConstraint("id", name="pk_learner_note"),
    )
    op.create_index("ix_learner_note_learner_id", "learner_note", ["learner_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_learner_note_learner_id", table_name="learner_note")
    op.drop_table("learner_note")
    with op.batch_alter_table("learner") as batch:
        batch.drop_column("at_risk_reason")
    with op.batch_alter_table("alert") as batch:
        batch.drop_constraint("fk_alert_acknowledged_by_id_trainer", type_="foreignkey")
        batch.drop_column("done_at")
        batch.drop_column("acknowledged_by_id")
    with op.batch_alter_table("ticket") as batch:
        batch.drop_constraint("category", type_="check")
        batch.drop_index("ix_ticket_assignee_id")
        batch.drop_constraint("fk_ticket_assignee_id_trainer", type_="foreignkey")
        batch.drop_column("assignee_id")
        batch.drop_column("category")
