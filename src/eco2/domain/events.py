"""The job event protocol (DESIGN.md §4): event types, node timings, stream events."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    """Types of entries in a job's event stream."""

    QUEUED = "queued"
    PROGRESS = "progress"
    TOKEN = "token"
    RETRY = "retry"
    DONE = "done"
    ERROR = "error"

    @property
    def terminal(self) -> bool:
        """Whether this type ends a job's stream."""
        return self in (EventType.DONE, EventType.ERROR)


class NodePhase(StrEnum):
    """Whether a progress event marks a node's start or its end."""

    STARTED = "started"
    FINISHED = "finished"


@dataclass(frozen=True, slots=True)
class NodeTiming:
    """When a node ran, relative to the job's start, and how it ended."""

    name: str
    status: str
    start_ms: float
    duration_ms: float

    def to_dict(self) -> dict[str, Any]:
        """Return the ``nodes[]`` entry of the ``--json`` and ``done`` contracts."""
        return {
            "name": self.name,
            "status": self.status,
            "start_ms": round(self.start_ms, 3),
            "duration_ms": round(self.duration_ms, 3),
        }


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One entry of a job's ordered event stream.

    Attributes:
        seq: Per-job sequence number, strictly increasing from 1.
        type: The event type.
        payload: JSON-serialisable body.
    """

    seq: int
    type: EventType
    payload: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable view."""
        return {"seq": self.seq, "type": self.type.value, "payload": self.payload}
