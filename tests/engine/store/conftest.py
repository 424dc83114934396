"""Fixtures of this folder: a seeder with the store tests' defaults (``tests.support.seed``)."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from tests.support.seed import PLANNED, Seed


@pytest.fixture
def seed(session_maker: async_sessionmaker[AsyncSession]) -> Seed:
    return Seed(session_maker, PLANNED)
