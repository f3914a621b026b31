"""Runs the compiled graph for one job and translates its stream into pipeline updates."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig

from eco2.application.ports.pipeline import (
    NodeProgress,
    PipelineResult,
    PipelineUpdate,
    TokenDelta,
)
from eco2.domain.chat import ChatJob
from eco2.domain.events import NodePhase
from eco2.pipeline.context import PipelineConfig, PipelineContext, Ports
from eco2.pipeline.graph import ChatGraph
from eco2.pipeline.state import ChatState


class LangGraphChatPipeline:
    """The ``ChatPipelinePort`` adapter over the LangGraph graph.

    Args:
        graph: The compiled graph (with its checkpointer).
        ports: The adapters nodes receive through the runtime context.
        config: Pipeline tunables.
    """

    def __init__(self, graph: ChatGraph, ports: Ports, config: PipelineConfig) -> None:
        self._graph = graph
        self._ports = ports
        self._config = config

    def run_config(self, job: ChatJob) -> RunnableConfig:
        """Return the LangChain run config of ``job`` (run name, thread id, metadata)."""
        request = job.request
        return {
            "run_name": f"chat:{job.job_id}",
            "configurable": {"thread_id": request.session_id or job.job_id},
            "metadata": {
                "job_id": job.job_id,
                "session_id": request.session_id,
                "user_id": request.user_id,
                "trace_id": job.trace_id,
            },
            "tags": list(request.tags),
        }

    async def run(self, job: ChatJob) -> AsyncIterator[PipelineUpdate]:
        """Yield node progress and tokens as they happen, then the result."""
        request = job.request
        context = PipelineContext(self._ports, self._config, job.job_id, job.trace_id)
        state: ChatState = {
            "messages": [HumanMessage(request.message)],
            "message": request.message,
            "location": (
                {
                    "latitude": request.user_location.latitude,
                    "longitude": request.user_location.longitude,
                }
                if request.user_location
                else None
            ),
            "image_url": request.image_url,
            "intents": [],
            "plan": [],
            "contexts": None,  # type: ignore[typeddict-item]  # the reducer's new-turn reset
            "aggregated": [],
            "answer": "",
        }
        final: dict[str, Any] = {}
        async for mode, chunk in self._graph.astream(
            state,
            self.run_config(job),
            context=context,
            stream_mode=["custom", "values"],
        ):
            if not isinstance(chunk, dict):
                continue
            if mode == "values":
                final = chunk
            elif chunk.get("kind") == "token":
                yield TokenDelta(chunk["node"], chunk["text"], int(chunk.get("count", 1)))
            elif chunk.get("kind") == "progress":
                yield _progress(chunk)
        yield PipelineResult(
            answer=final.get("answer", ""),
            intents=list(final.get("intents", [])),
            subagents=[
                {k: c[k] for k in ("name", "status", "error", "duration_ms")}
                for c in final.get("aggregated", [])
            ],
            usage=dict(final.get("usage", {"input_tokens": 0, "output_tokens": 0})),
        )


def _progress(chunk: dict[str, Any]) -> NodeProgress:
    return NodeProgress(
        node=chunk["node"],
        phase=NodePhase(chunk["phase"]),
        at_ms=float(chunk["at_ms"]),
        status=str(chunk.get("status", "")),
        duration_ms=float(chunk.get("duration_ms", 0.0)),
        detail=dict(chunk.get("detail") or {}),
    )
