"""Gathering concurrent requests' work into one call: group commit, one Redis round trip.

While one batch is in flight, new items gather for the next, so a lone item
is flushed at once (no timer, no added latency) and a burst costs one call
per batch. A batch that fails is retried item by item, so one bad item (or a
blip) fails only the request that brought it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_MAX_BATCH = 128


class Batcher(Generic[T, R]):
    """``await submit(item)`` returns this item's result from ``flush(items) -> results``."""

    def __init__(self, flush: Callable[[list[T]], Awaitable[list[R]]], *,
                 max_batch: int = DEFAULT_MAX_BATCH) -> None:
        self._flush = flush
        self._max_batch = max_batch
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        # shield: a client hanging up must not cancel work other requests share.
        return await asyncio.shield(future)

    async def aclose(self) -> None:
        """Let the last batch finish (app shutdown)."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def _drain(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            try:
                results = await self._flush([item for item, _ in batch])
            except Exception:
                await self._one_by_one(batch)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def _one_by_one(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        for item, future in batch:
            try:
                [result] = await self._flush([item])
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
                    future.exception()  # retrieved: the request that awaits it re-raises
                continue
            if not future.done():
                future.set_result(result)
