"""The composition root: builds every adapter from settings and wires the use case.

Nothing connects or builds a graph at import time; entrypoints call these functions and own the
lifecycles of what they get back.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.checkpoint.base import BaseCheckpointSaver
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector

from eco2.application.ports.events import EventStreamPort
from eco2.application.ports.llm import IntentClassifierPort
from eco2.application.ports.metrics import MetricsPort
from eco2.application.ports.sessions import SessionLockPort
from eco2.application.ports.telemetry import TelemetryConfigPort
from eco2.application.process_chat import ProcessChat
from eco2.bootstrap.integrations import build_integrations
from eco2.domain.errors import Eco2Error
from eco2.domain.events import StreamEvent
from eco2.infrastructure.integrations.prices import LocalPriceTable
from eco2.infrastructure.llm.offline_classifier import OfflineIntentClassifier
from eco2.infrastructure.llm.offline_models import OfflineAnswerModel, OfflineGeneralModel
from eco2.infrastructure.memory.checkpointer import RecentSessionsSaver
from eco2.infrastructure.memory.event_stream import InMemoryEventStream
from eco2.infrastructure.memory.session_lock import InProcessSessionLock
from eco2.infrastructure.prometheus.metrics import PrometheusMetrics
from eco2.infrastructure.prometheus.noop import NoOpMetrics
from eco2.infrastructure.retrieval.knowledge_base import load_knowledge_base
from eco2.infrastructure.retrieval.korean import KoreanAnalyzer
from eco2.infrastructure.retrieval.retriever import KnowledgeBaseRetriever
from eco2.infrastructure.telemetry.langsmith import build_telemetry
from eco2.infrastructure.telemetry.otel import tracer_from_env
from eco2.pipeline.context import PipelineConfig, Ports
from eco2.pipeline.graph import ChatGraph, build_graph
from eco2.pipeline.runner import LangGraphChatPipeline
from eco2.settings import LLMProvider, LLMSettings, Settings

log = logging.getLogger(__name__)


class ConfigurationError(Eco2Error):
    """The settings ask for something that cannot be built."""


@dataclass(frozen=True, slots=True)
class Application:
    """What the entrypoints use: the use case and the pieces behind it."""

    settings: Settings
    ports: Ports
    graph: ChatGraph
    pipeline: LangGraphChatPipeline
    events: EventStreamPort
    process_chat: ProcessChat
    telemetry: TelemetryConfigPort
    metrics: MetricsPort
    registry: CollectorRegistry | None


def _openai_model(llm: LLMSettings, model: str | None = None) -> BaseChatModel:
    from eco2.infrastructure.llm.openai_provider import build_chat_model

    if llm.api_key is None:
        raise ConfigurationError("ECO2_LLM_PROVIDER=openai needs OPENAI_API_KEY")
    return build_chat_model(
        model=model or llm.model,
        api_key=llm.api_key,
        base_url=llm.base_url,
        timeout_s=llm.timeout_s,
        max_retries=llm.max_retries,
    )


def build_classifier(settings: Settings) -> IntentClassifierPort:
    """Return the configured intent classifier (offline unless ``ECO2_LLM_PROVIDER=openai``)."""
    if settings.llm.provider is LLMProvider.OPENAI:
        from eco2.infrastructure.llm.openai_provider import OpenAIIntentClassifier

        return OpenAIIntentClassifier(_openai_model(settings.llm))
    return OfflineIntentClassifier()


def build_retriever() -> KnowledgeBaseRetriever:
    """Return the knowledge-base retriever (loads Kiwi: a few seconds)."""
    kb = load_knowledge_base()
    return KnowledgeBaseRetriever(kb, KoreanAnalyzer())


def build_ports(
    settings: Settings,
    *,
    observer: Callable[[str, str], None] | None = None,
    tracer_provider: Any = None,
) -> Ports:
    """Build every adapter the pipeline needs.

    The retriever (Kiwi) and the offline classifier (training) each take seconds to build;
    they are built side by side.

    Args:
        settings: Settings.
        observer: Receives circuit-breaker state changes of the external providers.
        tracer_provider: OpenTelemetry provider for outbound-call spans.
    """
    sources = build_integrations(
        observer=observer,
        tracer_provider=tracer_provider,
        image_timeout_s=settings.pipeline.image_subagent_timeout_s,
    )
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="eco2-build") as pool:
        classifier = pool.submit(build_classifier, settings)
        retriever = build_retriever()
        classifier_port = classifier.result()
    llm = settings.llm
    answer_model: BaseChatModel
    general_model: BaseChatModel
    vision_model: BaseChatModel | None = None  # offline: the vision node is not configured
    if llm.provider is LLMProvider.OPENAI:
        answer_model = general_model = _openai_model(llm)
        vision_model = _openai_model(llm, llm.vision_model)
    else:
        answer_model = OfflineAnswerModel(
            time_to_first_token_s=llm.offline_ttft_s, tokens_per_s=llm.offline_tokens_per_s
        )
        general_model = OfflineGeneralModel(general_rules=retriever.general_rules())
    return Ports(
        classifier=classifier_port,
        answer_model=answer_model,
        general_model=general_model,
        vision_model=vision_model,
        retrieval=retriever,
        characters=sources.characters,
        prices=LocalPriceTable(),
        bulk_waste=sources.bulk_waste,
        weather=sources.weather,
        location=sources.location,
        collection_points=sources.collection_points,
        web_search=sources.web_search,
        image_generation=sources.image_generation,
        closers=sources.closers,
    )


def pipeline_config(settings: Settings) -> PipelineConfig:
    """Return the pipeline tunables from settings."""
    p = settings.pipeline
    return PipelineConfig(
        subagent_timeout_s=p.subagent_timeout_s,
        # Image generation takes tens of seconds; the other sub-agents answer in a few. The RAG
        # fallback walks two sources in turn (web search, then the general model), each allowed
        # one sub-agent's time.
        subagent_timeouts_s={
            "image_generation": p.image_subagent_timeout_s,
            "rag_fallback": 2 * p.subagent_timeout_s,
            "vision": p.vision_timeout_s,  # a picture takes a multimodal model a few seconds
        },
        rag_top_k=p.rag_top_k,
        history_messages=p.history_messages,
    )


def build_tracing(service_name: str) -> tuple[TracerProvider | None, trace.Tracer]:
    """OpenTelemetry from the standard environment: ``(provider, tracer)``, or no-op."""
    tracer = tracer_from_env(os.environ, service_name)
    provider = trace.get_tracer_provider()
    if isinstance(tracer, trace.NoOpTracer) or not isinstance(provider, TracerProvider):
        return None, tracer
    return provider, tracer


def build_metrics(settings: Settings) -> tuple[MetricsPort, CollectorRegistry | None]:
    """Prometheus metrics on a registry of their own (with process metrics), or NoOp."""
    if not settings.telemetry.metrics_enabled:
        return NoOpMetrics(), None
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return PrometheusMetrics(registry), registry


def build_application(
    settings: Settings | None = None,
    *,
    ports: Ports | None = None,
    events: EventStreamPort | None = None,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    telemetry: TelemetryConfigPort | None = None,
    tracer: trace.Tracer | None = None,
    listener: Callable[[str, StreamEvent], None] | None = None,
    sessions: SessionLockPort | None = None,
) -> Application:
    """Wire the use case (in-memory events, checkpointer and session lock unless given).

    Args:
        settings: Settings (default: read from the environment).
        ports: Adapters to use instead of building them (tests pass fakes here).
        events: The event stream (default: in memory).
        checkpointer: Conversation memory (default: in memory).
        telemetry: Tracing configuration (default: LangSmith from the environment, or NoOp).
        tracer: OpenTelemetry tracer for node, sub-agent and model spans.
        listener: Called with every event of the in-memory stream (the CLI prints tokens).
        sessions: Turns of one session one at a time (default: within this process).
    """
    settings = settings or Settings()
    metrics, registry = build_metrics(settings)
    if ports is None:
        # Outbound-call spans go to the process's provider (set by build_tracing).
        provider = trace.get_tracer_provider() if tracer is not None else None
        ports = build_ports(settings, observer=metrics.circuit_state, tracer_provider=provider)
    if tracer is not None:
        ports = replace(ports, tracer=tracer)
    serving = settings.serving
    graph = build_graph(checkpointer=checkpointer or RecentSessionsSaver())
    telemetry = telemetry or build_telemetry(
        os.environ, settings.environment, settings.telemetry.default_tags
    )
    pipeline = LangGraphChatPipeline(
        graph,
        ports,
        pipeline_config(settings),
        telemetry,
        sessions=sessions if sessions is not None else InProcessSessionLock(),
        stateless_graph=build_graph(),
    )
    if events is None:
        events = InMemoryEventStream(
            ttl_after_terminal_s=serving.stream_ttl_s,
            max_len=serving.stream_max_len,
            listener=listener,
        )
    process_chat = ProcessChat(
        pipeline,
        events,
        metrics=metrics,
        provider=settings.llm.provider.value,
        coalesce_tokens=serving.coalesce_tokens,
        coalesce_delay_s=serving.coalesce_delay_s,
    )
    return Application(
        settings, ports, graph, pipeline, events, process_chat, telemetry, metrics, registry
    )
