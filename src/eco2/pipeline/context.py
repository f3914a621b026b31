"""What every node receives through the graph's runtime context: the ports and per-job facts."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from langchain_core.language_models import BaseChatModel
from opentelemetry import trace

from eco2.application.ports.integrations import (
    BulkWastePort,
    CharacterCatalogPort,
    CollectionPointPort,
    ImageGenerationPort,
    LocationPort,
    RecyclablePricePort,
    WeatherPort,
    WebSearchPort,
)
from eco2.application.ports.llm import IntentClassifierPort
from eco2.application.ports.retrieval import WasteRetrievalPort


@dataclass(frozen=True, slots=True)
class Ports:
    """The adapters the pipeline's nodes call; built once by the composition root."""

    classifier: IntentClassifierPort
    answer_model: BaseChatModel
    general_model: BaseChatModel
    retrieval: WasteRetrievalPort
    characters: CharacterCatalogPort
    prices: RecyclablePricePort
    bulk_waste: BulkWastePort
    weather: WeatherPort
    location: LocationPort
    collection_points: CollectionPointPort
    web_search: WebSearchPort
    image_generation: ImageGenerationPort
    vision_model: BaseChatModel | None = None  # multimodal; None: the vision node is not configured
    tracer: trace.Tracer = field(default_factory=trace.NoOpTracer)
    closers: tuple[Callable[[], Awaitable[None]], ...] = ()

    async def aclose(self) -> None:
        """Close the adapters' clients (shutdown)."""
        for close in self.closers:
            await close()


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    """Tunables of the pipeline.

    Attributes:
        subagent_timeout_s: Default per-sub-agent timeout.
        subagent_timeouts_s: Overrides by sub-agent name.
        rag_top_k: How many knowledge-base hits the RAG sub-agent keeps.
        history_messages: How many earlier messages the answer prompt carries.
    """

    subagent_timeout_s: float = 5.0
    subagent_timeouts_s: Mapping[str, float] = field(default_factory=dict)
    rag_top_k: int = 3
    history_messages: int = 6

    def timeout_for(self, subagent: str) -> float:
        """Return the timeout of ``subagent``."""
        return self.subagent_timeouts_s.get(subagent, self.subagent_timeout_s)


@dataclass(frozen=True, slots=True)
class PipelineContext:
    """Runtime context of one graph invocation (one job)."""

    ports: Ports
    config: PipelineConfig
    job_id: str
    trace_id: str
    started_at: float = field(default_factory=time.perf_counter)

    def elapsed_ms(self) -> float:
        """Milliseconds since the job started."""
        return (time.perf_counter() - self.started_at) * 1000.0
