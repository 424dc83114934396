"""Trainer accounts: role, time zone, lockout, password and digest settings

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from engine.store import types as store_types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("trainer") as batch:
        batch.add_column(sa.Column("role", sa.String(length=16), nullable=False,
                                   server_default="trainer"))
        batch.add_column(sa.Column("timezone", sa.String(length=64), nullable=False,
                                   server_default="Europe/Paris"))
        batch.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("locked_until", store_types.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("password_changed_at", store_types.UTCDateTime(),
                                   nullable=True))
        batch.add_column(sa.Column("last_login_at", store_types.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("disabled_at", store_types.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("digest_opt_out", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.create_check_constraint("role", "role IN ('trainer', 'quality')")
    with op.batch_alter_table("trainer") as batch:
        for column in ("role", "timezone", "failed_logins", "digest_opt_out"):
            batch.alter_column(column, server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("trainer") as batch:
        batch.drop_constraint("role", type_="check")
        for column in ("digest_opt_out", "disabled_at", "last_login_at", "password_changed_at",
                       "locked_until", "failed_logins", "timezone", "role"):
            batch.drop_column(column)
