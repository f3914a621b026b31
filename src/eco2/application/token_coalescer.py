"""Coalesces model tokens into fewer stream entries (DESIGN.md §4).

Two writes of a stream are at least three quarters of ``max_delay_s`` apart, unless
``max_tokens`` have gathered. A token that arrives when the last write is older than that is
written at once; tokens that arrive sooner wait for that moment and share its entry. So a model
slower than the write rate pays no coalescing delay at all, and a fast one costs at most
``4 / (3 max_delay_s)`` writes per second. Any other event flushes the buffer first, so the
stream's order is the order things happened.

A token that waits is written by the next token once the gap has passed, or by a timer a tenth
of ``max_delay_s`` later (a fast model thus never pays for a timer task). Waiting about that
long, not a whole ``max_delay_s``, matters for a model that streams at about the write rate:
after one late token, a whole interval would shift every later write, and each later token
would wait for its own shifted slot; here the next on-time token is written at once again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from eco2.application.ports.events import EventSinkPort
from eco2.application.ports.metrics import StreamTracker
from eco2.domain.events import EventType, StreamEvent

log = logging.getLogger(__name__)

# The least gap between two writes is this fraction of ``max_delay_s`` short of it: a model
# streaming at about the write rate, a little early now and then, would otherwise wait a sliver
# of time for many tokens, paying a timer for no coalescing at all.
_SLACK = 0.25


# A waiting token's timer fires this fraction of ``max_delay_s`` after the write may follow: a
# model faster than that writes from its next token (cheap) instead of from a timer task.
_GRACE = 0.1


def write_gap_s(max_delay_s: float) -> float:
    """The least time between two token writes of a stream, for a ``max_delay_s``."""
    return max_delay_s * (1 - _SLACK)


class TokenCoalescer:
    """Publishes one job's events, coalescing consecutive tokens of the same node.

    Args:
        sink: Where events go.
        job_id: The job whose stream this writes.
        max_tokens: Flush after this many buffered tokens.
        max_delay_s: Nominal interval between two token writes of this stream; writes are at
            least three quarters of it apart.
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
        self._min_gap_s = write_gap_s(max_delay_s)
        self._grace_s = max_delay_s * _GRACE
        self._node = ""
        self._texts: list[str] = []
        self._produced: list[float] = []
        self._count = 0
        self._tracker = tracker
        self._last_write = float("-inf")
        self._lock = asyncio.Lock()  # one write at a time, so entries keep their order
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: set[asyncio.Task[None]] = set()
        self._failed: BaseException | None = None  # a timer's write failed: the job must too

    async def token(self, node: str, text: str, count: int = 1) -> None:
        """Buffer a token; write when the buffer is full, the node changes or a slot is due.

        Buffering takes no lock and no task: with a model faster than the write rate, a token
        costs a few list appends and the write is shared by up to ``max_tokens`` of them.
        """
        if self._failed is not None:
            raise self._failed
        if self._texts and node != self._node:
            await self.flush()
        self._node = node
        now = time.perf_counter()
        self._texts.append(text)
        if count == 1:
            self._produced.append(now)
        else:
            self._produced.extend([now] * count)
        self._count += count
        wait = self._last_write + self._min_gap_s - now
        if self._count >= self._max_tokens or wait <= 0:
            await self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(wait + self._grace_s, self._due)

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
        """Flush, and wait for a write the timer started."""
        await self.flush()
        if self._flushing:
            await asyncio.gather(*self._flushing, return_exceptions=True)

    def discard(self) -> None:
        """Drop what waits and stop the timer and its writes (the job was cancelled: its
        redelivery starts the stream over, and a late write would land after its ``retry``)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for task in self._flushing:
            task.cancel()
        self._texts, self._count, self._produced = [], 0, []

    def _due(self) -> None:
        """The timer: write what waits once it may (a token may have written it already)."""
        self._timer = None
        if not self._texts:
            return
        wait = self._last_write + self._min_gap_s - time.perf_counter()
        if wait > 0:
            self._timer = asyncio.get_running_loop().call_later(wait + self._grace_s, self._due)
            return
        task = asyncio.get_running_loop().create_task(self.flush())
        self._flushing.add(task)
        task.add_done_callback(self._flushed)

    def _flushed(self, task: asyncio.Task[None]) -> None:
        self._flushing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # Nobody awaits the timer's write: its tokens may be missing from the stream, so
            # the job's next call here raises instead of carrying on with a gap.
            self._failed = task.exception()
            log.warning(
                "token_flush_failed",
                extra={"job_id": self._job_id, "error": type(self._failed).__name__},
            )

    async def _flush_locked(self) -> None:
        if self._failed is not None:
            raise self._failed
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._texts:
            return
        text, count, produced = "".join(self._texts), self._count, self._produced
        self._texts, self._count, self._produced = [], 0, []
        self._last_write = time.perf_counter()
        node = self._node  # the next node's first token may change it during the write
        await self._sink.publish(
            self._job_id, EventType.TOKEN, {"node": node, "text": text, "count": count}
        )
        if self._tracker is not None:
            self._tracker.tokens(node, produced, time.perf_counter())
