"""Wraps a node so it reports its start, end, status and duration on the custom stream."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from langgraph.runtime import Runtime
from langgraph.types import Command

from eco2.pipeline.context import PipelineContext
from eco2.pipeline.state import ChatState

NodeFn = Callable[[ChatState, Runtime[PipelineContext]], Awaitable[Any]]


class GraphNode(Protocol):
    """A node as LangGraph calls it: the state, and the runtime by keyword."""

    def __call__(self, state: ChatState, *, runtime: Runtime[PipelineContext]) -> Awaitable[Any]:
        """Run the node."""
        ...


def instrumented(name: str, fn: NodeFn) -> GraphNode:
    """Return ``fn`` wrapped to emit ``progress`` custom events around each run.

    A sub-agent node's status is its context's status; other nodes are ``ok`` unless they raise.
    """

    async def node(state: ChatState, *, runtime: Runtime[PipelineContext]) -> Any:
        ctx = runtime.context
        write = runtime.stream_writer
        started = ctx.elapsed_ms()
        write({"kind": "progress", "node": name, "phase": "started", "at_ms": started})
        status: str = "error"
        detail: dict[str, Any] = {}
        try:
            result = await fn(state, runtime)
            status, detail = _status_of(result)
            return result
        finally:
            ended = ctx.elapsed_ms()
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

    node.__name__ = name
    node.__qualname__ = name
    return node


def _status_of(result: Any) -> tuple[str, dict[str, Any]]:
    update = result.update if isinstance(result, Command) else result
    if not isinstance(update, dict):
        return "ok", {}
    contexts = update.get("contexts") or []
    if not contexts:
        return "ok", {}
    first = contexts[0]
    detail = {k: first["data"][k] for k in ("quality", "path") if k in first.get("data", {})}
    if first.get("error"):
        detail["error"] = first["error"]
    return str(first.get("status", "ok")), detail
