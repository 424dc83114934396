"""Root fixtures: the database fixtures (SQLite and PostgreSQL) for every test folder."""

from __future__ import annotations

from tests.support import db_fixtures
from tests.support.db_fixtures import *  # noqa: F403

__all__ = db_fixtures.__all__
