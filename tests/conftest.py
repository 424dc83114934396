"""Root fixtures: the database fixtures (SQLite and PostgreSQL) for every test folder."""

from __future__ import annotations

import db_fixtures
from db_fixtures import *  # noqa: F403

__all__ = db_fixtures.__all__
