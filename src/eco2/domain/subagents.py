"""The result a sub-agent hands to the aggregator."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class SubagentStatus(StrEnum):
    """How a sub-agent ended. Only ``OK`` contributes facts to the answer."""

    OK = "ok"
    EMPTY = "empty"
    NOT_CONFIGURED = "not_configured"
    FAILED = "failed"
    TIMEOUT = "timeout"


@dataclass(frozen=True, slots=True)
class SubagentResult:
    """A sub-agent's context for the answer.

    Attributes:
        name: The sub-agent's name (a ``Subagent`` value).
        status: How it ended.
        data: JSON-serialisable facts for the answer; empty unless ``status`` is OK.
        error: A short, secret-free explanation when it did not succeed.
        duration_ms: Wall time of the sub-agent.
    """

    name: str
    status: SubagentStatus
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    duration_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable view."""
        return {
            "name": self.name,
            "status": self.status.value,
            "data": self.data,
            "error": self.error,
            "duration_ms": round(self.duration_ms, 3),
        }
