"""``EventStreamPort`` in memory for embedded mode: the same semantics as the Redis adapter.

Entry ids look and order like Redis stream ids (``"<ms>-<n>"``, compared as integer pairs),
``seq`` counts per job from 1, each job keeps at most ``max_len`` events (oldest dropped), and a
job is forgotten ``ttl_after_terminal_s`` after its terminal event. Expired jobs are purged
lazily on access, against an injectable clock.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import logging
import time
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from eco2.application.ports.events import StreamTail, TailBatch
from eco2.domain.errors import StreamEndedError
from eco2.domain.events import EntryKey, EventType, StreamEvent, entry_key

log = logging.getLogger(__name__)


@dataclass
class _Job:
    events: deque[tuple[EntryKey, StreamEvent]]
    seq: int = 0
    ended: bool = False
    expires_at: float = float("inf")


class InMemoryEventStream:
    """Job event streams held in this process (``EventStreamPort``).

    Args:
        ttl_after_terminal_s: Seconds a job's stream lives after a terminal event.
        max_len: Events kept per job; older ones are dropped (``seq`` keeps counting).
        max_age_s: Seconds a job's stream lives from its first event if no terminal event
            ever comes; at least ``ttl_after_terminal_s``.
        listener: Called with ``(job_id, event)`` after each publish (the CLI prints tokens).
            Its exceptions are logged, never raised into the publisher.
        clock: Monotonic seconds used for expiry; tests inject a fake one.

    Raises:
        ValueError: when ``ttl_after_terminal_s`` or ``max_len`` is not positive.
    """

    def __init__(
        self,
        *,
        ttl_after_terminal_s: float = 600,
        max_len: int = 10_000,
        max_age_s: float = 86_400,
        listener: Callable[[str, StreamEvent], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_after_terminal_s <= 0:
            raise ValueError("ttl_after_terminal_s must be positive")
        if max_len < 1:
            raise ValueError("max_len must be at least 1")
        self._ttl = ttl_after_terminal_s
        self._max_age = max(max_age_s, ttl_after_terminal_s)  # never shorter than after the end
        self._max_len = max_len
        self._listener = listener
        self._clock = clock
        self._jobs: dict[str, _Job] = {}
        # (deadline, job_id), soonest first; entries whose job got a later deadline are stale.
        self._expiries: list[tuple[float, str]] = []
        self._last_key: EntryKey = (0, 0)
        self._changed = asyncio.Condition()

    async def publish(
        self, job_id: str, event_type: EventType, payload: dict[str, Any]
    ) -> StreamEvent:
        """Append one event and return it with its ``seq`` and ``id``.

        A terminal event (``done``/``error``) also (re)starts the job's expiry clock.

        Raises:
            TypeError: when ``payload`` is not JSON-serialisable.
            StreamEndedError: when the stream already holds its terminal event.
        """
        # Store what Redis would: a JSON snapshot, immune to later mutation by the caller.
        stored = json.loads(json.dumps(payload, ensure_ascii=False))
        async with self._changed:
            self._purge_expired()
            job = self._jobs.get(job_id)
            if job is None:
                job = self._jobs[job_id] = _Job(deque(maxlen=self._max_len))
                self._expire(job_id, job, self._max_age)  # unless a terminal event comes
            if job.ended:
                raise StreamEndedError(job_id)
            job.seq += 1
            key = self._next_key()
            event = StreamEvent(job.seq, event_type, payload, f"{key[0]}-{key[1]}")
            job.events.append((key, replace(event, payload=stored)))
            if event_type.terminal:
                job.ended = True
                self._expire(job_id, job, self._ttl)
            self._changed.notify_all()
        if self._listener is not None:
            try:
                self._listener(job_id, event)
            except Exception:
                log.exception("event_listener_failed", extra={"job_id": job_id})
        return event

    async def read(
        self, job_id: str, after: str | None = None, *, count: int = 500
    ) -> list[StreamEvent]:
        """Return up to ``count`` events after entry id ``after`` (from the start when ``None``).

        Raises:
            ValueError: when ``after`` is not an entry id (``"<ms>-<n>"`` or ``"<ms>"``).
        """
        position = entry_key(after) if after is not None else (-1, -1)
        return self._after(job_id, position, count)

    def tail(self) -> StreamTail:
        """A follower of many of this store's streams at once."""
        return _MemoryTail(self)

    async def exists(self, job_id: str) -> bool:
        """Whether the job's stream exists (it expires some time after its terminal event)."""
        self._purge_expired()
        return job_id in self._jobs

    async def close(self) -> None:
        """Nothing to release; kept for the port."""

    def _found(self, positions: dict[str, EntryKey], count: int) -> dict[str, TailBatch]:
        found = {}
        for job_id, position in positions.items():
            events = self._after(job_id, position, count)
            if events:
                found[job_id] = TailBatch(events[-1].id, events)
        return found

    def _after(self, job_id: str, position: EntryKey, count: int) -> list[StreamEvent]:
        self._purge_expired()
        job = self._jobs.get(job_id)
        if job is None:
            return []
        start = bisect_right(job.events, position, key=lambda item: item[0])
        return [event for _, event in itertools.islice(job.events, start, start + count)]

    def _next_key(self) -> EntryKey:
        # Like Redis: wall-clock milliseconds, a counter within one millisecond, and never
        # backwards even if the wall clock is.
        ms = time.time_ns() // 1_000_000
        last_ms, last_n = self._last_key
        self._last_key = (ms, 0) if ms > last_ms else (last_ms, last_n + 1)
        return self._last_key

    def _expire(self, job_id: str, job: _Job, after_s: float) -> None:
        job.expires_at = self._clock() + after_s
        heapq.heappush(self._expiries, (job.expires_at, job_id))

    def _purge_expired(self) -> None:
        heap, now = self._expiries, self._clock()
        while heap and heap[0][0] <= now:
            deadline, job_id = heapq.heappop(heap)
            job = self._jobs.get(job_id)
            if job is not None and job.expires_at == deadline:
                del self._jobs[job_id]


class _MemoryTail:
    """``StreamTail`` over an :class:`InMemoryEventStream`: waits on its change condition."""

    def __init__(self, store: InMemoryEventStream) -> None:
        self._store = store
        self._interrupted = False

    async def read(
        self, positions: Mapping[str, str], *, block_ms: int, count: int = 500
    ) -> dict[str, TailBatch]:
        keys = {job_id: entry_key(after) for job_id, after in positions.items()}
        store = self._store
        async with store._changed:
            found = store._found(keys, count)
            if found or block_ms <= 0:
                return found
            try:
                async with asyncio.timeout(block_ms / 1000):
                    while not self._interrupted and not (found := store._found(keys, count)):
                        await store._changed.wait()
            except TimeoutError:
                return {}
            self._interrupted = False
            return found

    async def interrupt(self) -> bool:
        async with self._store._changed:
            self._interrupted = True  # also ends the next read at once if none is waiting
            self._store._changed.notify_all()
        return True

    async def close(self) -> None:
        """Nothing to release."""
