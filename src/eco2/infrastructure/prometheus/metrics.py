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

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from eco2.infrastructure.prometheus import labels as L
from eco2.infrastructure.prometheus.noop import NoOpStreamTracker

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

TOKEN_LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)
TOKEN_INTERVAL_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0)
STREAM_DURATION_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60)
TOKEN_COUNT_BUCKETS = (10, 50, 100, 200, 500, 1000, 2000)
# Latency buckets include every SLO threshold (DESIGN.md §5) so those percentiles are exact.
REQUEST_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60)
NODE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.3, 0.5, 1, 2, 3, 5, 10, 30)
TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30)
QUEUE_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def _safe(method: Callable[P, R]) -> Callable[P, R | None]:
    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | None:
        try:
            return method(*args, **kwargs)
        except Exception:
            log.exception("metrics_record_failed", extra={"metric": method.__name__})
            return None

    return wrapper


class _Collectors:
    """The collectors, registered once on one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.tokens = Counter(
            "chat_stream_tokens", "Tokens streamed.", ["node", "status"], registry=r
        )
        self.stream_requests = Counter(
            "chat_stream_requests", "Token streams by outcome.", ["status"], registry=r
        )
        self.token_latency = Histogram(
            "chat_stream_token_latency_seconds",
            "Token produced by the model until its stream entry is durable.",
            ["node"],
            buckets=TOKEN_LATENCY_BUCKETS,
            registry=r,
        )
        self.token_interval = Histogram(
            "chat_stream_token_interval_seconds",
            "Gap between consecutive tokens of a stream.",
            ["provider"],
            buckets=TOKEN_INTERVAL_BUCKETS,
            registry=r,
        )
        self.stream_duration = Histogram(
            "chat_stream_duration_seconds",
            "Token stream duration.",
            ["node", "status"],
            buckets=STREAM_DURATION_BUCKETS,
            registry=r,
        )
        self.token_count = Histogram(
            "chat_stream_token_count",
            "Tokens per stream.",
            ["node"],
            buckets=TOKEN_COUNT_BUCKETS,
            registry=r,
        )
        self.recovery = Counter(
            "chat_stream_recovery", "Stream recoveries.", ["type", "status"], registry=r
        )
        self.active = Gauge("chat_stream_active", "Token streams in progress.", registry=r)
        self.requests = Counter(
            "chat_requests", "Chat jobs by outcome.", ["intent", "status", "provider"], registry=r
        )
        self.request_duration = Histogram(
            "chat_request_duration_seconds",
            "Chat job duration (full response).",
            ["intent", "provider"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.intents = Counter("chat_intents", "Classified intents.", ["intent"], registry=r)
        self.errors = Counter(
            "chat_errors", "Failures by intent and type.", ["intent", "error_type"], registry=r
        )
        self.subagent_calls = Counter(
            "chat_subagent_calls", "Sub-agent runs.", ["subagent", "status"], registry=r
        )
        self.subagent_duration = Histogram(
            "chat_subagent_duration_seconds",
            "Sub-agent duration.",
            ["subagent"],
            buckets=NODE_BUCKETS,
            registry=r,
        )
        self.node_duration = Histogram(
            "chat_node_duration_seconds",
            "Graph node duration.",
            ["node", "status"],
            buckets=NODE_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "chat_time_to_first_token_seconds",
            "Job start until the first answer token.",
            ["intent"],
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "chat_queue_wait_seconds",
            "Time a job waited in the queue.",
            buckets=QUEUE_BUCKETS,
            registry=r,
        )
        self.llm_tokens = Counter(
            "chat_llm_tokens", "Model tokens.", ["node", "provider", "type"], registry=r
        )
        self.rag_feedback = Counter(
            "chat_rag_feedback",
            "RAG retrieval grades and fallbacks.",
            ["quality", "fallback"],
            registry=r,
        )
        self.jobs_in_flight = Gauge("chat_jobs_in_flight", "Jobs a worker is running.", registry=r)
        self.sse_clients = Gauge("chat_sse_clients_connected", "Connected SSE clients.", registry=r)
        self.circuit = Gauge(
            "chat_circuit_breaker_state",
            "Circuit breaker state per provider: 0 closed, 1 half-open, 2 open.",
            ["provider"],
            registry=r,
        )
        self.http_requests = Counter(
            "chat_http_requests", "HTTP requests.", ["method", "route", "status"], registry=r
        )
        self.http_duration = Histogram(
            "chat_http_request_duration_seconds",
            "HTTP request duration.",
            ["method", "route"],
            buckets=HTTP_BUCKETS,
            registry=r,
        )


class PrometheusStreamTracker:
    """One stream's metrics; ``finish`` is idempotent so the gauge cannot leak."""

    def __init__(self, collectors: _Collectors, provider: str) -> None:
        self._c = collectors
        self._provider = L.bounded(provider, L.PROVIDERS)
        self._started = time.perf_counter()
        self._last_token: float | None = None
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._finished = False
        self._c.active.inc()

    @_safe
    def tokens(self, node: str, produced_at: Sequence[float], durable_at: float) -> None:
        """Record each token's emission latency and each gap between tokens."""
        node = L.bounded(node, L.NODES)
        latency = self._c.token_latency.labels(node)
        interval = self._c.token_interval.labels(self._provider)
        for produced in produced_at:
            latency.observe(max(0.0, durable_at - produced))
            if self._last_token is not None:
                interval.observe(max(0.0, produced - self._last_token))
            self._last_token = produced
        self._counts[node] = self._counts.get(node, 0) + len(produced_at)

    @_safe
    def finish(self, status: str) -> None:
        """Record the stream's duration, token count and outcome; release the gauge."""
        with self._lock:
            if self._finished:
                return
            self._finished = True
        self._c.active.dec()
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
        self._c = _Collectors(self.registry)

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
