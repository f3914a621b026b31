"""Metrics: the exact DESIGN.md §5 contract, both adapters, no leaks, never failing a request."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry

from eco2.application.ports.llm import IntentPrediction
from eco2.application.ports.metrics import MetricsPort, StreamTracker
from eco2.bootstrap import Application
from eco2.domain.chat import ChatJob, ChatRequest
from eco2.domain.errors import StreamEndedError
from eco2.domain.events import EventType
from eco2.infrastructure.llm.offline_models import OfflineAnswerModel
from eco2.infrastructure.prometheus.metrics import PrometheusMetrics
from eco2.infrastructure.prometheus.noop import NoOpMetrics, NoOpStreamTracker
from tests.fakes.ports import FailingWeather


class HangingClassifier:
    """An intent classifier that never answers (a hung model server)."""

    async def classify(self, text: str) -> IntentPrediction:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


# name: (type, labels, buckets) — DESIGN.md §5
CONTRACT: dict[str, tuple[str, tuple[str, ...], tuple[float, ...] | None]] = {
    "chat_stream_tokens": ("counter", ("node", "status"), None),
    "chat_stream_requests": ("counter", ("status",), None),
    "chat_stream_token_latency_seconds": (
        "histogram",
        ("node",),
        (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25),
    ),
    "chat_stream_token_interval_seconds": (
        "histogram",
        ("provider",),
        (0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0),
    ),
    "chat_stream_duration_seconds": (
        "histogram",
        ("node", "status"),
        (0.5, 1, 2, 5, 10, 20, 30, 60),
    ),
    "chat_stream_token_count": ("histogram", ("node",), (10, 50, 100, 200, 500, 1000, 2000)),
    "chat_stream_recovery": ("counter", ("type", "status"), None),
    "chat_stream_active": ("gauge", (), None),
    "chat_requests": ("counter", ("intent", "status", "provider"), None),
    "chat_request_duration_seconds": ("histogram", ("intent", "provider"), None),
    "chat_intents": ("counter", ("intent",), None),
    "chat_errors": ("counter", ("intent", "error_type"), None),
    "chat_subagent_calls": ("counter", ("subagent", "status"), None),
    "chat_subagent_duration_seconds": ("histogram", ("subagent",), None),
    "chat_node_duration_seconds": ("histogram", ("node", "status"), None),
    "chat_time_to_first_token_seconds": ("histogram", ("intent",), None),
    "chat_queue_wait_seconds": ("histogram", (), None),
    "chat_llm_tokens": ("counter", ("node", "provider", "type"), None),
    "chat_rag_feedback": ("counter", ("quality", "fallback"), None),
}
SLO_THRESHOLDS = {
    "chat_node_duration_seconds": (0.1, 0.3, 0.5),
    "chat_subagent_duration_seconds": (0.5, 1, 2),
    "chat_request_duration_seconds": (1, 2, 3, 5, 10),
    "chat_stream_token_latency_seconds": (0.005, 0.025, 0.05),
}


def public_methods(cls: type) -> set[str]:
    return {n for n, _ in inspect.getmembers(cls, inspect.isfunction) if not n.startswith("_")}


def test_both_adapters_implement_the_whole_port() -> None:
    port = public_methods(MetricsPort)
    assert port <= public_methods(PrometheusMetrics)
    assert port <= public_methods(NoOpMetrics)
    tracker = public_methods(StreamTracker)
    assert tracker <= public_methods(NoOpStreamTracker)
    _: MetricsPort = NoOpMetrics()
    __: MetricsPort = PrometheusMetrics()


def test_exact_names_types_labels_and_buckets() -> None:
    metrics = PrometheusMetrics()
    families = {f.name: f for f in metrics.registry.collect()}
    for name, (kind, labels, buckets) in CONTRACT.items():
        collector = metrics.registry._names_to_collectors[
            name + ("_total" if kind == "counter" else "")
        ]
        assert families[name].type == kind, name
        assert tuple(collector._labelnames) == labels, name
        if buckets is not None:
            assert tuple(collector._upper_bounds[:-1]) == buckets, name
    for name, thresholds in SLO_THRESHOLDS.items():
        bounds = metrics.registry._names_to_collectors[name]._upper_bounds
        assert set(thresholds) <= set(bounds), name


def sample(metrics: PrometheusMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return value or 0.0


def test_unknown_label_values_become_other() -> None:
    metrics = PrometheusMetrics()
    metrics.intents(["waste", "alien-intent"])
    metrics.node_finished("made_up_node", "weird", 0.1)
    assert sample(metrics, "chat_intents_total", intent="other") == 1
    assert sample(metrics, "chat_node_duration_seconds_count", node="other", status="other") == 1


def test_a_metrics_failure_never_raises() -> None:
    metrics = PrometheusMetrics()
    metrics._c.requests = None  # type: ignore[assignment]  # break it
    metrics.request_finished("waste", "success", "offline", 1.0)  # logs, does not raise


async def test_a_job_records_nodes_subagents_and_the_stream(
    make_app: Callable[..., Application],
) -> None:
    app = make_app(weather=FailingWeather())
    assert isinstance(app.metrics, PrometheusMetrics)
    m = app.metrics
    await app.process_chat.execute(ChatJob(ChatRequest("페트병 어떻게 버려?")))
    assert (
        sample(m, "chat_requests_total", intent="waste", status="success", provider="offline") == 1
    )
    assert sample(m, "chat_node_duration_seconds_count", node="intent", status="ok") == 1
    assert sample(m, "chat_subagent_calls_total", subagent="weather", status="failed") == 1
    assert sample(m, "chat_errors_total", intent="waste", error_type="failed") == 1
    assert sample(m, "chat_subagent_duration_seconds_count", subagent="waste_rag") == 1
    assert sample(m, "chat_rag_feedback_total", quality="good", fallback="none") == 1
    assert sample(m, "chat_time_to_first_token_seconds_count", intent="waste") == 1
    assert sample(m, "chat_stream_requests_total", status="success") == 1
    tokens = sample(m, "chat_stream_tokens_total", node="answer", status="success")
    assert tokens > 10
    assert sample(m, "chat_stream_token_latency_seconds_count", node="answer") == tokens
    assert sample(m, "chat_stream_token_interval_seconds_count", provider="offline") == tokens - 1
    assert sample(m, "chat_llm_tokens_total", node="answer", provider="offline", type="output") > 0
    assert sample(m, "chat_stream_active") == 0


async def test_the_active_gauge_does_not_leak_on_timeout_or_cancellation(
    make_app: Callable[..., Application],
) -> None:
    app = make_app(answer_model=OfflineAnswerModel(tokens_per_s=5))
    assert isinstance(app.metrics, PrometheusMetrics)
    await app.process_chat.execute(ChatJob(ChatRequest("페트병 어떻게 버려?")), timeout_s=0.2)
    assert sample(app.metrics, "chat_stream_active") == 0
    # Counted under the job's own intent, known once the intent node has run.
    assert sample(app.metrics, "chat_errors_total", intent="waste", error_type="timeout") == 1
    task = asyncio.create_task(app.process_chat.execute(ChatJob(ChatRequest("페트병?"))))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sample(app.metrics, "chat_stream_active") == 0


async def test_a_job_given_up_unrun_counts_one_unclassified_failure_and_no_stream(
    make_app: Callable[..., Application],
) -> None:
    app = make_app()
    assert isinstance(app.metrics, PrometheusMetrics)
    m = app.metrics
    job = ChatJob(ChatRequest("페트병 어떻게 버려?"))
    await app.events.publish(job.job_id, EventType.QUEUED, {})
    await app.process_chat.fail(job.job_id, job.trace_id, "delivery_limit", "gave up")
    with pytest.raises(StreamEndedError):  # ended already: an earlier delivery wrote it
        await app.process_chat.fail(job.job_id, job.trace_id, "delivery_limit", "gave up")
    assert sample(m, "chat_stream_active") == 0
    assert sample(m, "chat_errors_total", intent="other", error_type="delivery_limit") == 1
    assert sample(m, "chat_requests_total", intent="other", status="error", provider="offline") == 1
    # Not the general intent's: an unrun job's ~0 s would count as a fast general answer.
    assert (
        sample(m, "chat_request_duration_seconds_count", intent="general", provider="offline") == 0
    )
    assert sample(m, "chat_stream_requests_total", status="error") == 0


async def test_a_job_failing_before_classification_is_billed_to_no_intent(
    make_app: Callable[..., Application],
) -> None:
    app = make_app(classifier=HangingClassifier())
    assert isinstance(app.metrics, PrometheusMetrics)
    await app.process_chat.execute(ChatJob(ChatRequest("페트병 어떻게 버려?")), timeout_s=0.2)
    m = app.metrics
    assert sample(m, "chat_errors_total", intent="other", error_type="timeout") == 1
    assert (
        sample(m, "chat_request_duration_seconds_count", intent="general", provider="offline") == 0
    )
    assert sample(m, "chat_stream_active") == 0


def test_a_fresh_registry_per_instance() -> None:
    registry = CollectorRegistry()
    PrometheusMetrics(registry)
    PrometheusMetrics()  # no duplicate-registration error: each owns its registry


def test_a_failed_job_counts_under_the_intents_its_picture_gave_it() -> None:
    """The vision node classifies again once it has named the pictured item; a job that then
    fails is counted under those intents, as it would have been had it answered."""
    from eco2.application.job_metrics import JobMetrics
    from eco2.application.ports.pipeline import NodeProgress
    from eco2.domain.events import NodePhase

    registry = CollectorRegistry()
    metrics = PrometheusMetrics(registry)
    measured = JobMetrics(metrics, "offline")
    for node, status, intents in (("intent", "ok", ["general"]), ("vision", "ok", ["waste"])):
        measured.progress(
            NodeProgress(node, NodePhase.FINISHED, 5.0, status, 1.0, {"intents": intents})
        )
    measured.failed("timeout")
    labels = {"intent": "waste", "status": "error", "provider": "offline"}
    assert registry.get_sample_value("chat_requests_total", labels) == 1
    assert registry.get_sample_value("chat_intents_total", {"intent": "waste"}) == 1
    failed = JobMetrics(metrics, "offline")  # a picture the model could not look at
    failed.progress(NodeProgress("vision", NodePhase.FINISHED, 5.0, "timeout", 1.0, {}))
    errors = {"intent": "other", "error_type": "timeout"}
    assert registry.get_sample_value("chat_errors_total", errors) == 1
