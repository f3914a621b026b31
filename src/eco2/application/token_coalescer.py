"""Coalesces model tokens into fewer stream entries (DESIGN.md §4).

A stream is written at most once per ``max_delay_s`` (or when ``max_tokens`` have gathered).
A token that arrives when the last write is older than that is written at once; tokens that
arrive sooner wait for the next slot and share its entry. So a model slower than the write rate
pays no coalescing delay at all, and a fast one costs at most ``1 / max_delay_s`` writes per
second. Any other event flushes the buffer first, so the stream's order is the order things
happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from eco2.application.ports.events import EventSinkPort
from eco2.application.ports.metrics import StreamTracker
from eco2.domain.events import EventType, StreamEvent


class TokenCoalescer:
    """Publishes one job's events, coalescing consecutive tokens of the same node.

    Args:
        sink: Where events go.
        job_id: The job whose stream this writes.
        max_tokens: Flush after this many buffered tokens.
        max_delay_s: Shortest interval between two token writes of this stream.
        tracker: Receives each token's production time once its entry is durable.
    """

    def __init__(
        self,
        sink: EventSinkPort,
        job_id: str,
        *,
        max_tokens: int = 16,
        max_delay_s: float = 0.01,
        tracker: StreamTracker | None = None,
    ) -> None:
        self._sink = sink
        self._job_id = job_id
        self._max_tokens = max_tokens
        self._max_delay_s = max_delay_s
        self._node = ""
        self._texts: list[str] = []
        self._produced: list[float] = []
        self._count = 0
        self._tracker = tracker
        self._last_write = float("-inf")
        self._lock = asyncio.Lock()
        self._timer: asyncio.Task[None] | None = None

    async def token(self, node: str, text: str, count: int = 1) -> None:
        """Buffer a token; flush when the buffer is full or the node changes."""
        async with self._lock:
            if self._texts and node != self._node:
                await self._flush_locked()
            self._node = node
            now = time.perf_counter()
            self._texts.append(text)
            self._produced.extend([now] * count)
            self._count += count
            wait = self._last_write + self._max_delay_s - now
            if self._count >= self._max_tokens or wait <= 0:
                await self._flush_locked()
            elif self._timer is None:
                self._timer = asyncio.create_task(self._flush_later(wait))

    async def event(self, event_type: EventType, payload: dict[str, Any]) -> StreamEvent:
        """Flush buffered tokens, then publish a non-token event."""
        async with self._lock:
            await self._flush_locked()
            return await self._sink.publish(self._job_id, event_type, payload)

    async def flush(self) -> None:
        """Write buffered tokens now."""
        async with self._lock:
            await self._flush_locked()

    async def aclose(self) -> None:
        """Flush and stop the timer."""
        await self.flush()

    async def _flush_later(self, wait_s: float) -> None:
        await asyncio.sleep(wait_s)
        async with self._lock:
            self._timer = None  # this task is finishing; do not cancel itself below
            await self._flush_locked()

    async def _flush_locked(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer
        if not self._texts:
            return
        text, count, produced = "".join(self._texts), self._count, self._produced
        self._texts, self._count, self._produced = [], 0, []
        self._last_write = time.perf_counter()
        await self._sink.publish(
            self._job_id, EventType.TOKEN, {"node": self._node, "text": text, "count": count}
        )
        if self._tracker is not None:
            self._tracker.tokens(self._node, produced, time.perf_counter())
