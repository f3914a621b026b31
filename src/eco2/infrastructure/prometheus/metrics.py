"""The Prometheus metrics adapter: every metric of DESIGN.md §5, exact names, labels, buckets.

Each instance owns its collectors on the registry it is given (tests pass a fresh one). Every
method swallows and logs its own errors: a metrics failure never fails a request.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import ParamSpec, TypeVar

from prometheus_client import CollectorRegistry

from eco2.application.ports.metrics import ABANDONED
from eco2.infrastructure.prometheus import labels as L
from eco2.infrastructure.prometheus.batch import observe_each
from eco2.infrastructure.prometheus.collectors import Collectors
from eco2.infrastructure.prometheus.noop import NoOpStreamTracker

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


def _safe(method: Callable[P, R]) -> Callable[P, R | None]:
    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | None:
        try:
            return method(*args, **kwargs)
        except Exception:
            log.exception("metrics_record_failed", extra={"metric": method.__name__})
            return None

    return wrapper


class PrometheusStreamTracker:
    """One stream's metrics; ``finish`` is idempotent so the gauge cannot leak.

    Called once per stream entry (a coalescer flush), not per token. Each token still gets its own
    latency and interval observation, but they are gathered and binned in one pass
    (``observe_each``) once ``OBSERVE_EVERY`` tokens are waiting and when the stream finishes: a
    paced model writes one entry per token, and observing them one entry at a time cost more CPU
    than everything else the metrics do for a job.
    """

    OBSERVE_EVERY = 32  # tokens; at 80 tokens/s the histograms lag a stream by under half a second

    def __init__(self, collectors: Collectors, provider: str) -> None:
        self._c = collectors
        self._interval = collectors.token_interval.labels(L.bounded(provider, L.PROVIDERS))
        self._started = time.perf_counter()
        self._last_token: float | None = None
        self._latencies: dict[str, list[float]] = {}  # by node, waiting to be observed
        self._gaps: list[float] = []
        self._waiting = 0
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._finished = False
        self._c.active.inc()

    @_safe
    def tokens(self, node: str, produced_at: Sequence[float], durable_at: float) -> None:
        """Note each token's emission latency and each gap between tokens."""
        if not produced_at:
            return
        latencies = self._latencies.setdefault(node, [])
        gaps = self._gaps
        last = self._last_token
        for produced in produced_at:
            latencies.append(max(0.0, durable_at - produced))
            if last is not None:  # the first token of a stream has no gap
                gaps.append(max(0.0, produced - last))
            last = produced
        self._last_token = last
        self._waiting += len(produced_at)
        if self._waiting >= self.OBSERVE_EVERY:
            self._observe()

    def _observe(self) -> None:
        latencies, self._latencies = self._latencies, {}
        gaps, self._gaps = self._gaps, []
        self._waiting = 0
        for node, values in latencies.items():
            label = L.bounded(node, L.NODES)
            observe_each(self._c.token_latency.labels(label), values)
            self._counts[label] = self._counts.get(label, 0) + len(values)
        observe_each(self._interval, gaps)

    @_safe
    def finish(self, status: str) -> None:
        """Record the stream's duration, token count and outcome; release the gauge."""
        with self._lock:
            if self._finished:
                return
            self._finished = True
        self._c.active.dec()
        if status == ABANDONED:  # another run finishes this stream and records it
            return
        self._observe()
        status = L.bounded(status, L.STREAM_STATUSES)
        duration = time.perf_counter() - self._started
        self._c.stream_requests.labels(status).inc()
        for node, count in self._counts.items() or {"answer": 0}.items():
            self._c.tokens.labels(node, status).inc(count)
            self._c.stream_duration.labels(node, status).observe(duration)
            self._c.token_count.labels(node).observe(count)


class PrometheusMetrics:
    """``MetricsPort`` on prometheus_client.

    Args:
        registry: Where the collectors live (default: a fresh registry).
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._c = Collectors(self.registry)

    def stream(self, provider: str) -> PrometheusStreamTracker | NoOpStreamTracker:
        """Start tracking a stream (a NoOp tracker if that fails)."""
        try:
            return PrometheusStreamTracker(self._c, provider)
        except Exception:
            log.exception("metrics_record_failed", extra={"metric": "stream"})
            return NoOpStreamTracker()

    @_safe
    def request_finished(self, intent: str, status: str, provider: str, duration_s: float) -> None:
        """Count the job and observe its duration."""
        intent, provider = L.bounded(intent, L.INTENTS), L.bounded(provider, L.PROVIDERS)
        self._c.requests.labels(intent, L.bounded(status, L.REQUEST_STATUSES), provider).inc()
        self._c.request_duration.labels(intent, provider).observe(duration_s)

    @_safe
    def intents(self, intents: Sequence[str]) -> None:
        """Count each classified intent."""
        for intent in intents:
            self._c.intents.labels(L.bounded(intent, L.INTENTS)).inc()

    @_safe
    def error(self, intent: str, error_type: str) -> None:
        """Count a failure."""
        self._c.errors.labels(
            L.bounded(intent, L.INTENTS), L.bounded(error_type, L.ERROR_TYPES)
        ).inc()

    @_safe
    def node_finished(self, node: str, status: str, duration_s: float) -> None:
        """Observe a node's duration."""
        self._c.node_duration.labels(
            L.bounded(node, L.NODES), L.bounded(status, L.NODE_STATUSES)
        ).observe(duration_s)

    @_safe
    def subagent_call(self, subagent: str, status: str, duration_s: float) -> None:
        """Count a sub-agent run and observe its duration."""
        subagent = L.bounded(subagent, L.SUBAGENTS)
        self._c.subagent_calls.labels(subagent, L.bounded(status, L.NODE_STATUSES)).inc()
        self._c.subagent_duration.labels(subagent).observe(duration_s)

    @_safe
    def time_to_first_token(self, intent: str, seconds: float) -> None:
        """Observe time to first token."""
        self._c.ttft.labels(L.bounded(intent, L.INTENTS)).observe(seconds)

    @_safe
    def queue_wait(self, seconds: float) -> None:
        """Observe queue wait."""
        self._c.queue_wait.observe(max(0.0, seconds))

    @_safe
    def llm_tokens(self, node: str, provider: str, input_tokens: int, output_tokens: int) -> None:
        """Count model tokens by type."""
        node, provider = L.bounded(node, L.NODES), L.bounded(provider, L.PROVIDERS)
        self._c.llm_tokens.labels(node, provider, "input").inc(input_tokens)
        self._c.llm_tokens.labels(node, provider, "output").inc(output_tokens)

    @_safe
    def rag_feedback(self, quality: str, fallback: str) -> None:
        """Count a RAG grade and its fallback path."""
        self._c.rag_feedback.labels(
            L.bounded(quality, L.RAG_QUALITIES), L.bounded(fallback, L.RAG_FALLBACKS)
        ).inc()

    @_safe
    def stream_recovery(self, kind: str, status: str) -> None:
        """Count a stream recovery."""
        self._c.recovery.labels(
            L.bounded(kind, L.RECOVERY_TYPES), L.bounded(status, L.RECOVERY_STATUSES)
        ).inc()

    @_safe
    def jobs_in_flight(self, delta: int) -> None:
        """Move the in-flight jobs gauge."""
        self._c.jobs_in_flight.inc(delta)

    @_safe
    def sse_clients(self, delta: int) -> None:
        """Move the SSE clients gauge."""
        self._c.sse_clients.inc(delta)

    @_safe
    def http_request(self, method: str, route: str, status: int, duration_s: float) -> None:
        """Count an HTTP request by route template and observe its duration."""
        method = L.bounded(method, L.HTTP_METHODS)
        self._c.http_requests.labels(method, route, str(status)).inc()
        self._c.http_duration.labels(method, route).observe(duration_s)

    @_safe
    def circuit_state(self, provider: str, state: str) -> None:
        """Set a provider's breaker state gauge."""
        value = L.CIRCUIT_STATES.get(state)
        if value is not None:
            self._c.circuit.labels(L.bounded(provider, L.PROVIDERS_EXTERNAL)).set(value)
