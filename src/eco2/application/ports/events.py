"""Ports for a job's ordered event stream (DESIGN.md §4).

Writers (the worker) append; readers (the API's SSE endpoint) read after an entry id, blocking
until something arrives. Entry ids compare like Redis stream ids (``"<ms>-<n>"``).
"""

from __future__ import annotations

from typing import Any, Protocol

from eco2.domain.events import EventType, StreamEvent


class EventSinkPort(Protocol):
    """Appends events to a job's stream; assigns each a strictly increasing ``seq``."""

    async def publish(
        self, job_id: str, event_type: EventType, payload: dict[str, Any]
    ) -> StreamEvent:
        """Append one event to the job's stream and return it with its ``seq`` and ``id``.

        A terminal event (``done``/``error``) also starts the stream's expiry clock.
        """
        ...


class EventStreamPort(EventSinkPort, Protocol):
    """A job's event stream: append, read after a position, check existence."""

    async def read(
        self, job_id: str, after: str | None = None, *, block_ms: int = 0, count: int = 500
    ) -> list[StreamEvent]:
        """Return up to ``count`` events after entry id ``after`` (from the start when ``None``).

        When none is there yet, wait up to ``block_ms`` (0: do not wait) for new ones.
        """
        ...

    async def exists(self, job_id: str) -> bool:
        """Whether the job's stream exists (it expires some time after its terminal event)."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
