"""Runs the compiled graph for one job and translates its stream into pipeline updates."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any, cast

from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig

from eco2.application.ports.pipeline import (
    NodeProgress,
    PipelineResult,
    PipelineUpdate,
    TokenDelta,
)
from eco2.application.ports.sessions import SessionLockPort
from eco2.application.ports.telemetry import TelemetryConfigPort
from eco2.domain.chat import ChatJob
from eco2.domain.events import NodePhase
from eco2.pipeline.context import PipelineConfig, PipelineContext, Ports
from eco2.pipeline.graph import CHECKPOINT_DURABILITY, ChatGraph
from eco2.pipeline.state import ChatState, question_id


class LangGraphChatPipeline:
    """The ``ChatPipelinePort`` adapter over the LangGraph graph.

    Args:
        graph: The compiled graph (with its checkpointer): jobs of a session.
        ports: The adapters nodes receive through the runtime context.
        config: Pipeline tunables.
        telemetry: Per-job run configuration (LangSmith or NoOp).
        sessions: Runs the turns of one session one at a time (its history is one line).
        stateless_graph: The same graph without a checkpointer, for jobs without a session:
            their thread would never be read again, so saving it would only grow the store.
            ``None`` runs them on ``graph`` too.
    """

    def __init__(
        self,
        graph: ChatGraph,
        ports: Ports,
        config: PipelineConfig,
        telemetry: TelemetryConfigPort,
        *,
        sessions: SessionLockPort,
        stateless_graph: ChatGraph | None = None,
    ) -> None:
        self._graph = graph
        self._stateless_graph = stateless_graph
        self._ports = ports
        self._config = config
        self._telemetry = telemetry
        self._sessions = sessions

    async def run(self, job: ChatJob) -> AsyncIterator[PipelineUpdate]:
        """Yield node progress and tokens as they happen, then the result."""
        request = job.request
        context = PipelineContext(self._ports, self._config, job.job_id, job.trace_id)
        state: ChatState = {
            # Ids from the job: a job run again after its turn was saved (its done write
            # failed, or the worker died just then) replaces the turn instead of adding it twice.
            "messages": [HumanMessage(request.message, id=question_id(job.job_id))],
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
        run_config = self._telemetry.run_config(job)
        annotated = False
        turn: contextlib.AbstractAsyncContextManager[None] = contextlib.nullcontext()
        if request.session_id is not None:  # one turn of a session at a time
            turn = self._sessions.hold(request.session_id, job.job_id)
        graph = self._graph
        if request.session_id is None and self._stateless_graph is not None:
            graph = self._stateless_graph
        async with turn:
            with self._telemetry.tracing(run_config):
                async for mode, chunk in graph.astream(
                    state,
                    cast(RunnableConfig, run_config),
                    context=context,
                    stream_mode=["custom", "values"],
                    durability=CHECKPOINT_DURABILITY if graph.checkpointer else None,
                ):
                    if not isinstance(chunk, dict):
                        continue
                    if mode == "values":
                        final = chunk
                        if not annotated and chunk.get("plan"):
                            annotated = True
                            self._telemetry.annotate(run_config, chunk["intents"], chunk["plan"])
                    elif chunk.get("kind") == "token":
                        count = int(chunk.get("count", 1))
                        yield TokenDelta(chunk["node"], chunk["text"], count)
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
