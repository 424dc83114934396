"""Session external ids unique per trainer (and among sessions with no trainer)

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NO_TRAINER = sa.text("trainer_id IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("training_session") as batch:
        batch.drop_constraint("uq_training_session_external_id", type_="unique")
        batch.create_unique_constraint("uq_training_session_trainer_id_external_id",
                                       ["trainer_id", "external_id"])
    op.create_index("uq_training_session_org_external_id", "training_session", ["external_id"],
                    unique=True, sqlite_where=_NO_TRAINER, postgresql_where=_NO_TRAINER)


def downgrade() -> None:
    op.drop_index("uq_training_session_org_external_id", table_name="training_session")
    with op.batch_alter_table("training_session") as batch:
        batch.drop_constraint("uq_training_session_trainer_id_external_id", type_="unique")
        batch.create_unique_constraint("uq_training_session_external_id", ["external_id"])
