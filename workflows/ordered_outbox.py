"""A workflow's queue of things to send, sent in the order queued by one drainer task at a time.

A run may stop draining early (``should_pause``: its history is long enough to continue as new) and
carry what is unsent into the next run (``unsent`` out, ``items`` in)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")

# Sends one batch: True once it is done with (sent, or its failure recorded), False to leave it
# queued and end this drain.
Send = Callable[[list[T]], Awaitable[bool]]


def _never() -> bool:
    return False


def _nothing() -> None:
    pass


class OrderedOutbox(Generic[T]):
    def __init__(
        self,
        items: Iterable[T] = (),
        *,
        batch: int = 1,
        should_pause: Callable[[], bool] = _never,
        on_drained: Callable[[], None] = _nothing,
    ) -> None:
        self.items: list[T] = list(items)
        self.batch = batch
        self.should_pause = should_pause
        self.on_drained = on_drained
        self.drainer: asyncio.Task[None] | None = None

    def __bool__(self) -> bool:
        return bool(self.items)

    def put(self, items: Iterable[T]) -> None:
        self.items.extend(items)

    @property
    def draining(self) -> bool:
        return self.drainer is not None

    def unsent(self) -> list[T]:
        """What the next run takes over."""
        return list(self.items)

    def drain(self, send: Send[T]) -> None:
        """Start a drainer sending with ``send``, unless one runs, nothing is queued or the run is
        pausing: two drainers would send items twice or out of order."""
        if self.items and self.drainer is None and not self.should_pause():
            self.drainer = asyncio.create_task(self._drain(send))

    async def _drain(self, send: Send[T]) -> None:
        try:
            while self.items and not self.should_pause():
                batch = self.items[: self.batch]
                if not await send(batch):
                    break
                del self.items[: len(batch)]
        except asyncio.CancelledError:
            pass
        # Not in ``finally``: a run evicted from the worker's cache closes this coroutine, and
        # workflow calls fail outside the workflow's event loop.
        self.drainer = None
        self.on_drained()
