"""Fixtures of this folder; tests import helpers from ``store_seed.py`` (a unique module name:
two folders' ``conftest`` modules would shadow each other)."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from store_seed import Seed


@pytest.fixture
def seed(session_maker: async_sessionmaker[AsyncSession]) -> Seed:
    return Seed(session_maker)
