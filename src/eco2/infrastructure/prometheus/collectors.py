"""The Prometheus collectors of DESIGN.md §5: exact names, types, labels and buckets."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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


class Collectors:
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
