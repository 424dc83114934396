"""Alembic environment and revisions (a package so they ship with the wheel)."""
