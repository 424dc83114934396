"""prompt.check_at (what the tick must look at) and delivery.content_ref as text

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from engine.store import types as store_types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("delivery") as batch:
        batch.alter_column("content_ref", existing_type=sa.String(length=255), type_=sa.Text(),
                           existing_nullable=True)
    with op.batch_alter_table("prompt") as batch:
        batch.add_column(sa.Column("check_at", store_types.UTCDateTime(), nullable=True))
        batch.create_index("ix_prompt_status_check_at", ["status", "check_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("prompt") as batch:
        batch.drop_index("ix_prompt_status_check_at")
        batch.drop_column("check_at")
    with op.batch_alter_table("delivery") as batch:
        batch.alter_column("content_ref", existing_type=sa.Text(), type_=sa.String(length=255),
                           existing_nullable=True)
