"""Port for the chat pipeline: runs one job and yields what happens, as it happens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from eco2.domain.chat import ChatJob
from eco2.domain.events import NodePhase


@dataclass(frozen=True, slots=True)
class NodeProgress:
    """A node started or finished. ``at_ms`` is relative to the job's start."""

    node: str
    phase: NodePhase
    at_ms: float
    status: str = ""
    duration_ms: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TokenDelta:
    """Text streamed by a node's model; ``count`` model tokens coalesced into ``text``."""

    node: str
    text: str
    count: int = 1


@dataclass(frozen=True, slots=True)
class PipelineResult:
    """The finished answer and what produced it."""

    answer: str
    intents: list[str]
    subagents: list[dict[str, Any]]
    usage: dict[str, int]


PipelineUpdate = NodeProgress | TokenDelta | PipelineResult


class ChatPipelinePort(Protocol):
    """Runs the pipeline for one job."""

    def run(self, job: ChatJob) -> AsyncIterator[PipelineUpdate]:
        """Yield progress and tokens as they happen, then exactly one ``PipelineResult``."""
        ...
