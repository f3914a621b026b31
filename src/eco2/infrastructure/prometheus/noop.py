"""The NoOp metrics adapter: records nothing, costs nothing."""

from __future__ import annotations

from collections.abc import Sequence


class NoOpStreamTracker:
    """``StreamTracker`` that records nothing."""

    def tokens(self, node: str, produced_at: Sequence[float], durable_at: float) -> None:
        """Do nothing."""

    def finish(self, status: str) -> None:
        """Do nothing."""


class NoOpMetrics:
    """``MetricsPort`` that records nothing."""

    def stream(self, provider: str) -> NoOpStreamTracker:
        """Return a tracker that records nothing."""
        return NoOpStreamTracker()

    def request_finished(self, intent: str, status: str, provider: str, duration_s: float) -> None:
        """Do nothing."""

    def intents(self, intents: Sequence[str]) -> None:
        """Do nothing."""

    def error(self, intent: str, error_type: str) -> None:
        """Do nothing."""

    def node_finished(self, node: str, status: str, duration_s: float) -> None:
        """Do nothing."""

    def subagent_call(self, subagent: str, status: str, duration_s: float) -> None:
        """Do nothing."""

    def time_to_first_token(self, intent: str, seconds: float) -> None:
        """Do nothing."""

    def queue_wait(self, seconds: float) -> None:
        """Do nothing."""

    def llm_tokens(self, node: str, provider: str, input_tokens: int, output_tokens: int) -> None:
        """Do nothing."""

    def rag_feedback(self, quality: str, fallback: str) -> None:
        """Do nothing."""

    def stream_recovery(self, kind: str, status: str) -> None:
        """Do nothing."""

    def jobs_in_flight(self, delta: int) -> None:
        """Do nothing."""

    def sse_clients(self, delta: int) -> None:
        """Do nothing."""

    def http_request(self, method: str, route: str, status: int, duration_s: float) -> None:
        """Do nothing."""

    def circuit_state(self, provider: str, state: str) -> None:
        """Do nothing."""
