"""Wraps a node so it reports its start, end, status and duration on the custom stream."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from langgraph.runtime import Runtime
from langgraph.types import Command
from opentelemetry.trace import Status, StatusCode

from eco2.pipeline.context import PipelineContext
from eco2.pipeline.genai_spans import counting_usage
from eco2.pipeline.state import ChatState

NodeFn = Callable[[ChatState, Runtime[PipelineContext]], Awaitable[Any]]


class GraphNode(Protocol):
    """A node as LangGraph calls it: the state, and the runtime by keyword."""

    def __call__(self, state: ChatState, *, runtime: Runtime[PipelineContext]) -> Awaitable[Any]:
        """Run the node."""
        ...


def instrumented(name: str, fn: NodeFn) -> GraphNode:
    """Return ``fn`` wrapped in a ``node {name}`` span, emitting ``progress`` events around it.

    A sub-agent node's status is its context's status; other nodes are ``ok`` unless they raise.
    A node that called a model reports the calls' token usage in its ``finished`` detail.
    """

    async def node(state: ChatState, *, runtime: Runtime[PipelineContext]) -> Any:
        ctx = runtime.context
        write = runtime.stream_writer
        started = ctx.elapsed_ms()
        write({"kind": "progress", "node": name, "phase": "started", "at_ms": started})
        status: str = "error"
        detail: dict[str, Any] = {}
        with (
            ctx.ports.tracer.start_as_current_span(
                f"node {name}", attributes={"eco2.node": name, "eco2.job_id": ctx.job_id}
            ) as span,
            counting_usage() as usage,
        ):
            try:
                result = await fn(state, runtime)
                status, detail = _status_of(result)
                return result
            finally:
                span.set_attribute("eco2.status", status)
                if status in ("error", "failed", "timeout"):
                    span.set_status(Status(StatusCode.ERROR, status))
                if any(usage.values()):  # the node called a model: its tokens, for the metrics
                    detail["usage"] = dict(usage)
                _finished(write, name, started, ctx.elapsed_ms(), status, detail)

    node.__name__ = name
    node.__qualname__ = name
    return node


def _finished(
    write: Any, name: str, started: float, ended: float, status: str, detail: dict[str, Any]
) -> None:
    write(
        {
            "kind": "progress",
            "node": name,
            "phase": "finished",
            "at_ms": ended,
            "status": status,
            "duration_ms": ended - started,
            "detail": detail,
        }
    )


def _status_of(result: Any) -> tuple[str, dict[str, Any]]:
    update = result.update if isinstance(result, Command) else result
    if not isinstance(update, dict):
        return "ok", {}
    if "intents" in update:  # the intent node: clients and metrics learn the intents early
        return "ok", {"intents": list(update["intents"])}
    contexts = update.get("contexts") or []
    if not contexts:
        return "ok", {}
    first = contexts[0]
    detail = {k: first["data"][k] for k in ("quality", "path") if k in first.get("data", {})}
    if first.get("error"):
        detail["error"] = first["error"]
    return str(first.get("status", "ok")), detail
