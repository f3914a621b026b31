"""Port for publishing a job's ordered events (DESIGN.md §4)."""

from __future__ import annotations

from typing import Any, Protocol

from eco2.domain.events import EventType, StreamEvent


class EventSinkPort(Protocol):
    """Appends events to a job's stream; assigns each a strictly increasing ``seq``."""

    async def publish(
        self, job_id: str, event_type: EventType, payload: dict[str, Any]
    ) -> StreamEvent:
        """Append one event to the job's stream and return it with its ``seq``."""
        ...
