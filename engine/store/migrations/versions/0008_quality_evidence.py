"""Quality evidence: learner company, attendance completion, complaints register columns,
improvement register, testimonials with consent, published indicators, weekly digest log

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from engine.store import types as store_types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "improvement_action",
        _id(),
        sa.Column("source_kind", sa.String(length=16), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("source_ref", sa.String(length=200), nullable=True),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("finding", sa.String(), nullable=False),
        sa.Column("decision", sa.String(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("effectiveness", sa.String(), nullable=True),
        sa.Column("effective", sa.Boolean(), nullable=True),
        sa.Column("reviewed_at", store_types.UTCDateTime(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", store_types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", store_types.UTCDateTime(), nullable=False),
        sa.Column("done_at", store_types.UTCDateTime(), nullable=True),
        sa.CheckConstraint("source_kind IN ('ticket', 'alert', 'criterion', 'verbatim', 'audit', 'other')",
                           name="source_kind"),
        sa.CheckConstraint("status IN ('planned', 'in_progress', 'done', 'cancelled')", name="status"),
        sa.ForeignKeyConstraint(["session_id"], ["training_session.id"]),
        sa.ForeignKeyConstraint(["owner_id"], ["trainer.id"]),
        sa.ForeignKeyConstraint(["created_by_id"], ["trainer.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_improvement_action_status_due_on", "improvement_action", ["status", "due_on"])
    op.create_index("ix_improvement_action_session_id", "improvement_action", ["session_id"])
    op.create_index("ix_improvement_action_owner_id", "improvement_action", ["owner_id"])
    op.create_table(
        "testimonial",
        _id(),
        sa.Column("learner_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("named", sa.Boolean(), nullable=False),
        sa.Column("consent_at", store_types.UTCDateTime(), nullable=False),
        sa.Column("withdrawn_at", store_types.UTCDateTime(), nullable=True),
        sa.Column("approved_at", store_types.UTCDateTime(), nullable=True),
        sa.Column("approved_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", store_types.UTCDateTime(), nullable=False),
        sa.CheckConstraint("scope IN ('internal', 'website')", name="scope"),
        sa.ForeignKeyConstraint(["learner_id"], ["learner.id"]),
        sa.ForeignKeyConstraint(["session_id"], ["training_session.id"]),
        sa.ForeignKeyConstraint(["approved_by_id"], ["trainer.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("learner_id", "session_id"),
    )
    op.create_index("ix_testimonial_learner_id", "testimonial", ["learner_id"])
    op.create_table(
        "published_indicator",
        _id(),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("chosen_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", store_types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["chosen_by_id"], ["trainer.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_table(
        "digest_log",
        _id(),
        sa.Column("trainer_id", sa.Integer(), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("sent_at", store_types.UTCDateTime(), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("created_at", store_types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["trainer_id"], ["trainer.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("trainer_id", "week"),
    )
    with op.batch_alter_table("learner") as batch:
        batch.add_column(sa.Column("company", sa.String(length=200), nullable=True))
        batch.create_index("ix_learner_company", ["company"])
    with op.batch_alter_table("attendance") as batch:
        batch.add_column(sa.Column("training_completion", sa.String(length=16), nullable=True))
        batch.create_check_constraint("training_completion",
                                      "training_completion IN ('completed', 'abandoned')")
    with op.batch_alter_table("ticket") as batch:
        batch.add_column(sa.Column("acknowledged_at", store_types.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("resolved_at", store_types.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("resolution", sa.String(), nullable=True))
        batch.add_column(sa.Column("corrective_action_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_ticket_corrective_action_id_improvement_action", "improvement_action",
                                 ["corrective_action_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("ticket") as batch:
        batch.drop_constraint("fk_ticket_corrective_action_id_improvement_action", type_="foreignkey")
        for column in ("corrective_action_id", "resolution", "resolved_at", "acknowledged_at"):
            batch.drop_column(column)
    with op.batch_alter_table("attendance") as batch:
        batch.drop_constraint("training_completion", type_="check")
        batch.drop_column("training_completion")
    with op.batch_alter_table("learner") as batch:
        batch.drop_index("ix_learner_company")
        batch.drop_column("company")
    op.drop_table("digest_log")
    op.drop_table("published_indicator")
    op.drop_index("ix_testimonial_learner_id", table_name="testimonial")
    op.drop_table("testimonial")
    for index in ("ix_improvement_action_owner_id", "ix_improvement_action_session_id",
                  "ix_improvement_action_status_due_on"):
        op.drop_index(index, table_name="improvement_action")
    op.drop_table("improvement_action")
