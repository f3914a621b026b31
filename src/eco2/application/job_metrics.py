"""Turns one job's pipeline updates into metrics (DESIGN.md §5), kept out of the use case."""

from __future__ import annotations

import time

from eco2.application.ports.metrics import MetricsPort, StreamTracker
from eco2.application.ports.pipeline import NodeProgress, PipelineResult
from eco2.domain.events import NodePhase
from eco2.domain.intents import Subagent
from eco2.domain.subagents import SubagentStatus

_SUBAGENTS = frozenset(s.value for s in Subagent) | {"rag_fallback"}
_SUBAGENT_ERRORS = frozenset({SubagentStatus.FAILED.value, SubagentStatus.TIMEOUT.value})
"""Sub-agent outcomes counted as errors (``empty`` and ``not_configured`` are answers too)."""
UNCLASSIFIED = "unclassified"
"""Intent of a job that failed before the intent node classified it (not ``general``: its
time would count towards the general-answer SLO). Metrics adapters record it as ``other``."""


class JobMetrics:
    """Records one job: node and sub-agent timings, RAG feedback, first token, outcome.

    Args:
        metrics: The metrics port.
        provider: The model provider label.
        attempt: Delivery attempt (a success after a retry is a ``recovered`` stream).
        requested_at: When the user asked (``time.perf_counter``; ``None``: now): the request
            duration and the time to first token are the user's wait, queue wait included.
    """

    def __init__(
        self,
        metrics: MetricsPort,
        provider: str,
        attempt: int = 1,
        requested_at: float | None = None,
    ) -> None:
        self._metrics = metrics
        self._provider = provider
        self._attempt = attempt
        self._started = time.perf_counter() if requested_at is None else requested_at
        self._first_token: float | None = None
        self._rag_quality: str | None = None
        self._rag_fallback = "none"
        self._intent = UNCLASSIFIED  # until the intent node has classified the message
        self._intents: list[str] = []
        self.answered: PipelineResult | None = None
        """The run's result once its ``done`` event is on its way (see :meth:`answering`)."""
        self.stream: StreamTracker = metrics.stream(provider)

    def progress(self, update: NodeProgress) -> None:
        """Record a finished node (and sub-agent, and RAG grade)."""
        if update.phase is not NodePhase.FINISHED:
            return
        seconds = update.duration_ms / 1000
        self._metrics.node_finished(update.node, update.status, seconds)
        usage = update.detail.get("usage")
        if usage:  # the node's model calls (answer, intent, general, rag_fallback, …)
            self._metrics.llm_tokens(
                update.node,
                self._provider,
                int(usage.get("input_tokens", 0)),
                int(usage.get("output_tokens", 0)),
            )
        if update.node in _SUBAGENTS:
            self._metrics.subagent_call(update.node, update.status, seconds)
        counted = update.node in _SUBAGENTS or update.node == "vision"
        if counted and update.status in _SUBAGENT_ERRORS:
            self._metrics.error(self._intent, update.status)
        # The vision node classifies again once it has named the pictured item.
        if update.node in ("intent", "vision") and update.detail.get("intents"):
            self._intents = [str(i) for i in update.detail["intents"]]
            self._intent = self._intents[0]
        if update.node == Subagent.WASTE_RAG.value:
            self._rag_quality = str(update.detail.get("quality", "poor"))
        elif update.node == "rag_fallback":
            self._rag_fallback = str(update.detail.get("path", "failed"))

    def token(self) -> None:
        """Note the first answer token's time."""
        if self._first_token is None:
            self._first_token = time.perf_counter()

    def answering(self, result: PipelineResult) -> None:
        """Note that the ``done`` event is being written: a timeout cancelling the run now may
        still find it written (then the job answered)."""
        self.answered = result

    def done(self, result: PipelineResult) -> None:
        """Record a successful job."""
        intent = result.intents[0] if result.intents else "general"
        m = self._metrics
        m.intents(result.intents)
        m.request_finished(intent, "success", self._provider, self._elapsed())
        if self._first_token is not None:
            m.time_to_first_token(intent, self._first_token - self._started)
        if self._rag_quality is not None:
            m.rag_feedback(self._rag_quality, self._rag_fallback)
        self.stream.finish("recovered" if self._attempt > 1 else "success")

    def failed(self, error_type: str) -> None:
        """Record a failed job (timeout, crash, …) under its intent once classified."""
        if self._intents:  # the intent mix counts the jobs that fail too
            self._metrics.intents(self._intents)
        self._metrics.error(self._intent, error_type)
        self._metrics.request_finished(self._intent, "error", self._provider, self._elapsed())
        self.stream.finish("error")

    @staticmethod
    def gave_up(metrics: MetricsPort, provider: str, error_type: str) -> None:
        """Record a job ended without running (no stream, no duration worth an intent's SLO)."""
        metrics.error(UNCLASSIFIED, error_type)
        metrics.request_finished(UNCLASSIFIED, "error", provider, 0.0)

    def _elapsed(self) -> float:
        return time.perf_counter() - self._started
