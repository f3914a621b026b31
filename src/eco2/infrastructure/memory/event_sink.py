"""An in-memory event sink: per-job ordered events with ``seq``, bounded per job."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

from eco2.domain.events import EventType, StreamEvent


class InMemoryEventSink:
    """``EventSinkPort`` keeping each job's events in memory.

    Args:
        max_events_per_job: Oldest events beyond this bound are dropped (``seq`` keeps counting).
        listener: Called with each event as it is published (e.g. to print tokens live).
    """

    def __init__(
        self,
        max_events_per_job: int = 10_000,
        listener: Callable[[str, StreamEvent], None] | None = None,
    ) -> None:
        self._max = max_events_per_job
        self._listener = listener
        self._events: dict[str, deque[StreamEvent]] = {}
        self._seq: dict[str, int] = {}
        self._lock = asyncio.Lock()

    async def publish(
        self, job_id: str, event_type: EventType, payload: dict[str, Any]
    ) -> StreamEvent:
        """Append an event to ``job_id``'s stream."""
        async with self._lock:
            seq = self._seq.get(job_id, 0) + 1
            self._seq[job_id] = seq
            event = StreamEvent(seq, event_type, payload)
            self._events.setdefault(job_id, deque(maxlen=self._max)).append(event)
        if self._listener is not None:
            self._listener(job_id, event)
        return event

    def events(self, job_id: str) -> list[StreamEvent]:
        """Return ``job_id``'s retained events, oldest first."""
        return list(self._events.get(job_id, ()))
