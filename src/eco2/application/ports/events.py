"""Ports for a job's ordered event stream (DESIGN.md §4).

Writers (the worker) append; readers (the API's SSE endpoint) read after an entry id, and one
tail per API process waits for new entries of all the jobs it follows. Entry ids compare like
Redis stream ids (``"<ms>-<n>"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True)
class TailBatch:
    """What one :meth:`StreamTail.read` found in one job's stream.

    Attributes:
        last_id: The id of the last entry read, malformed ones included: read after it next.
        events: The well-formed events, in order.
    """

    last_id: str
    events: list[StreamEvent]


class StreamTail(Protocol):
    """Follows many job streams with one blocking read (one per API process, not per job)."""

    async def read(
        self, positions: Mapping[str, str], *, block_ms: int, count: int = 500
    ) -> dict[str, TailBatch]:
        """Return, per job with new entries, up to ``count`` of those after its position.

        When no job has any, wait up to ``block_ms`` — less when :meth:`interrupt` is called or
        an entry arrives — and return ``{}`` on time-out or interruption.
        """
        ...

    async def interrupt(self) -> bool:
        """Make a waiting ``read`` return now (so it can be redone with new jobs).

        Returns ``False`` when no read was waiting to be woken; the caller may retry shortly.
        """
        ...

    async def close(self) -> None:
        """Release what the tail holds (a dedicated connection)."""
        ...


class EventStreamPort(EventSinkPort, Protocol):
    """A job's event stream: append, read after a position, check existence."""

    async def read(
        self, job_id: str, after: str | None = None, *, count: int = 500
    ) -> list[StreamEvent]:
        """Return up to ``count`` events after entry id ``after`` (from the start when ``None``);
        to wait for new ones, follow the stream with a :meth:`tail`."""
        ...

    def tail(self) -> StreamTail:
        """A new follower of many streams at once; the caller closes it."""
        ...

    async def exists(self, job_id: str) -> bool:
        """Whether the job's stream exists (it expires some time after its terminal event)."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
