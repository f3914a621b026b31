"""A LangChain callback that records every model call as an OpenTelemetry GenAI span.

Attributes follow the GenAI semantic conventions: operation, provider, request/response model,
token usage, and the time to the first streamed chunk. Message text is recorded only when
``capture_content`` is on.
"""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode


class GenAISpans(BaseCallbackHandler):
    """Opens a ``chat {model}`` span per model call (child of the current node's span).

    Args:
        tracer: Where spans go.
        capture_content: Record prompts and completions (off by default: they may be personal).
    """

    run_inline = True  # keep the caller's context so spans nest under the node span

    def __init__(self, tracer: trace.Tracer, capture_content: bool = False) -> None:
        self._tracer = tracer
        self._capture = capture_content
        self._spans: dict[UUID, tuple[Span, float, list[float]]] = {}

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Start the span."""
        params = kwargs.get("invocation_params") or {}
        model = str(
            params.get("model_name")
            or params.get("model")
            or (metadata or {}).get("ls_model_name")
            or "unknown"
        )
        provider = str((metadata or {}).get("ls_provider") or params.get("_type") or "unknown")
        span = self._tracer.start_span(f"chat {model}", kind=SpanKind.CLIENT)
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute("gen_ai.provider.name", provider)
        span.set_attribute("gen_ai.request.model", model)
        if self._capture:
            span.set_attribute(
                "gen_ai.input.messages", str([[m.content for m in group] for group in messages])
            )
        self._spans[run_id] = (span, time.perf_counter(), [])

    def on_llm_new_token(
        self, token: str | list[str | dict[str, Any]], *, run_id: UUID, **kwargs: Any
    ) -> Any:
        """Note the first chunk's time."""
        entry = self._spans.get(run_id)
        if entry is not None and not entry[2]:
            entry[2].append(time.perf_counter() - entry[1])

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> Any:
        """Record usage and end the span."""
        entry = self._spans.pop(run_id, None)
        if entry is None:
            return
        span, _, first_chunk = entry
        if first_chunk:
            span.set_attribute("gen_ai.response.time_to_first_chunk", first_chunk[0])
        usage = _usage(response)
        if usage:
            span.set_attribute("gen_ai.usage.input_tokens", usage.get("input_tokens", 0))
            span.set_attribute("gen_ai.usage.output_tokens", usage.get("output_tokens", 0))
        model = _response_model(response)
        if model:
            span.set_attribute("gen_ai.response.model", model)
        if self._capture:
            span.set_attribute(
                "gen_ai.output.messages",
                str([[g.text for g in gens] for gens in response.generations]),
            )
        span.end()

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> Any:
        """End the span as failed."""
        entry = self._spans.pop(run_id, None)
        if entry is not None:
            span = entry[0]
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            span.set_attribute("error.type", type(error).__name__)
            span.end()


def _usage(response: LLMResult) -> dict[str, int]:
    for generations in response.generations:
        for generation in generations:
            message = getattr(generation, "message", None)
            usage = getattr(message, "usage_metadata", None)
            if usage:
                return {k: int(v) for k, v in usage.items() if isinstance(v, int)}
    token_usage = (response.llm_output or {}).get("token_usage") or {}
    if token_usage:
        return {
            "input_tokens": int(token_usage.get("prompt_tokens", 0)),
            "output_tokens": int(token_usage.get("completion_tokens", 0)),
        }
    return {}


def _response_model(response: LLMResult) -> str | None:
    for generations in response.generations:
        for generation in generations:
            message = getattr(generation, "message", None)
            meta = getattr(message, "response_metadata", None) or {}
            if meta.get("model_name"):
                return str(meta["model_name"])
    return None
