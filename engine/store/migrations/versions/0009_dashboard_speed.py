"""Dashboard speed: prompts counted per enrollment and status from an index

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("prompt") as batch_op:
        batch_op.create_index("ix_prompt_enrollment_id_status", ["enrollment_id", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("prompt") as batch_op:
        batch_op.drop_index("ix_prompt_enrollment_id_status")
