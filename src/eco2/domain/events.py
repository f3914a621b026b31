"""The job event protocol (DESIGN.md §4): event types, node timings, stream events."""

from __future__ import annotations

import re
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
        id: The stream entry id (Redis ``ms-n`` form); SSE ``id:`` and ``Last-Event-ID`` use it.
    """

    seq: int
    type: EventType
    payload: dict[str, Any] = field(default_factory=dict)
    id: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable view."""
        return {"id": self.id, "seq": self.seq, "type": self.type.value, "payload": self.payload}


_ENTRY_ID = re.compile(r"([0-9]{1,20})(?:-([0-9]{1,20}))?")
ENTRY_PART_MAX = 2**64 - 1  # Redis stream ids are two unsigned 64-bit numbers

EntryKey = tuple[int, int]


def entry_key(entry_id: str) -> EntryKey:
    """Return a stream entry id (``"<ms>-<n>"``; ``"<ms>"`` means ``"<ms>-0"``) as an int pair.

    Entry ids order numerically, not as strings ("9-0" < "10-0").

    Raises:
        ValueError: when ``entry_id`` is not an entry id (each part at most 2**64 - 1).
    """
    match = _ENTRY_ID.fullmatch(entry_id)
    if match is None:
        raise ValueError(f"not a stream entry id: {entry_id!r}")
    ms, n = int(match[1]), int(match[2] or 0)
    if ms > ENTRY_PART_MAX or n > ENTRY_PART_MAX:
        raise ValueError(f"not a stream entry id: {entry_id!r}")
    return ms, n


def entry_before(entry_id: str) -> str | None:
    """The greatest entry id below ``entry_id`` (``None`` below the first): reading after it
    starts at ``entry_id`` itself.

    Raises:
        ValueError: when ``entry_id`` is not an entry id.
    """
    ms, n = entry_key(entry_id)
    if n:
        return f"{ms}-{n - 1}"
    return f"{ms - 1}-{ENTRY_PART_MAX}" if ms else None
