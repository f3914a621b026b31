"""Port for metrics (DESIGN.md §5). Adapters: Prometheus and NoOp; both implement all of it.

Label values come from bounded sets; an adapter maps anything else to ``other``. A metrics
failure never fails a request: adapters swallow and log their own errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

ABANDONED = "abandoned"
"""``StreamTracker.finish`` status of a run cut short that another run will finish (shutdown,
event store unreachable): the active-streams gauge is released and nothing else is recorded."""


class StreamTracker(Protocol):
    """Metrics of one job's token stream: started on creation, tokens as written, one finish."""

    def tokens(self, node: str, produced_at: Sequence[float], durable_at: float) -> None:
        """Record tokens (``time.perf_counter`` stamps) that became durable at ``durable_at``."""
        ...

    def finish(self, status: str) -> None:
        """End the stream (``success``, ``error``, ``recovered`` or :data:`ABANDONED`); later
        calls do nothing."""
        ...


class MetricsPort(Protocol):
    """Everything the application and the entrypoints record."""

    def stream(self, provider: str) -> StreamTracker:
        """Start tracking a job's token stream (increments the active-streams gauge)."""
        ...

    def request_finished(self, intent: str, status: str, provider: str, duration_s: float) -> None:
        """A chat job ended (``status``: success or error)."""
        ...

    def intents(self, intents: Sequence[str]) -> None:
        """The intents a message was classified into."""
        ...

    def error(self, intent: str, error_type: str) -> None:
        """A job or a sub-agent failed."""
        ...

    def node_finished(self, node: str, status: str, duration_s: float) -> None:
        """A graph node ended."""
        ...

    def subagent_call(self, subagent: str, status: str, duration_s: float) -> None:
        """A sub-agent ended."""
        ...

    def time_to_first_token(self, intent: str, seconds: float) -> None:
        """Seconds from the job's start to its first answer token."""
        ...

    def queue_wait(self, seconds: float) -> None:
        """Seconds a job waited in the queue before a worker took it."""
        ...

    def llm_tokens(self, node: str, provider: str, input_tokens: int, output_tokens: int) -> None:
        """Model token usage of a node."""
        ...

    def rag_feedback(self, quality: str, fallback: str) -> None:
        """A RAG retrieval's grade and the fallback path it took (``none`` when it did not)."""
        ...

    def stream_recovery(self, kind: str, status: str) -> None:
        """A client resumed (``catch_up``) or asked for a ``snapshot``."""
        ...

    def jobs_in_flight(self, delta: int) -> None:
        """A worker took (+1) or finished (-1) a job."""
        ...

    def sse_clients(self, delta: int) -> None:
        """An SSE client connected (+1) or left (-1)."""
        ...

    def http_request(self, method: str, route: str, status: int, duration_s: float) -> None:
        """An HTTP request finished (``route`` is the route template, never the raw path)."""
        ...

    def circuit_state(self, provider: str, state: str) -> None:
        """A provider's circuit breaker changed state (``closed``, ``half_open``, ``open``)."""
        ...
