"""ASGI entry point for web processes: ``uvicorn --factory webhooks.asgi:app``."""

from __future__ import annotations

from fastapi import FastAPI

from engine.settings import Settings
from webhooks.app import create_app


def app() -> FastAPI:
    """The app configured from the environment (``DATABASE_URL``, ``REDIS_URL``, ``ANCRAGE_*``)."""
    return create_app(Settings(), freeze_heap=True)
