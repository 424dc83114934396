"""prompt.kind accepts 'confirm' (asking a learner whether they want to stop messages)

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = "kind IN ('quiz', 'review', 'survey', 'checkin')"
_NEW = "kind IN ('quiz', 'review', 'survey', 'checkin', 'confirm')"


def _replace(condition: str) -> None:
    with op.batch_alter_table("prompt") as batch:
        batch.drop_constraint(op.f("ck_prompt_kind"), type_="check")
        batch.create_check_constraint("kind", condition)


def upgrade() -> None:
    _replace(_NEW)


def downgrade() -> None:
    op.execute("DELETE FROM prompt WHERE kind = 'confirm'")
    _replace(_OLD)
