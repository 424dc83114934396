"""Root fixtures: the database fixtures (SQLite and PostgreSQL) for every test folder, and the
demo's prepared data (made once per run)."""

from __future__ import annotations

from tests.support import db_fixtures
from tests.support import demo_data as demo_fixtures
from tests.support.db_fixtures import *  # noqa: F403
from tests.support.demo_data import *  # noqa: F403

__all__ = [*db_fixtures.__all__, *demo_fixtures.__all__]
