"""Port for tracing configuration (DESIGN.md §5): what each job's run carries to LangSmith."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from eco2.domain.chat import ChatJob


class TelemetryConfigPort(Protocol):
    """Builds per-job run configuration; the use case and pipeline only see this port."""

    @property
    def enabled(self) -> bool:
        """Whether runs are traced."""
        ...

    def run_config(self, job: ChatJob) -> dict[str, Any]:
        """Return LangChain run-config entries for ``job`` (run name, tags, metadata, …)."""
        ...

    def annotate(
        self, config: dict[str, Any], intents: Sequence[str], subagents: Sequence[str]
    ) -> None:
        """Add ``intent:*`` / ``subagent:*`` tags and the intent metadata once they are known."""
        ...

    def tracing(self, config: dict[str, Any]) -> AbstractContextManager[None]:
        """Context in which the job of ``config`` runs (switches tracing on or off inside)."""
        ...

    def flush(self) -> None:
        """Send what is buffered (shutdown, tests)."""
        ...
