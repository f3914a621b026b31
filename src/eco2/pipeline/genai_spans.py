"""Model calls as OpenTelemetry GenAI spans, recorded by the node that makes the call.

A LangChain callback would also see every call, but attaching one switches LangChain's callback
machinery on for every runnable and every token (measured by ``eco2 bench overhead``); the node
already holds the first chunk's time and the final usage, so it records the span itself.
Attributes follow the GenAI semantic conventions; message text is never recorded. The token
usage of the calls a node makes is also added up for that node (:func:`counting_usage`), so the
``chat_llm_tokens_total{node}`` metric sees every model call, not only the answer's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk, BaseMessage
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

_node_usage: ContextVar[dict[str, int] | None] = ContextVar("eco2_node_usage", default=None)


@runtime_checkable
class ModelBackedClassifier(Protocol):
    """An intent classifier that asks a chat model (its call gets a GenAI span like any other)."""

    chat_model: BaseChatModel


@contextmanager
def counting_usage() -> Iterator[dict[str, int]]:
    """Add up the token usage of the model calls made inside (one node's)."""
    usage = {"input_tokens": 0, "output_tokens": 0}
    token = _node_usage.set(usage)
    try:
        yield usage
    finally:
        _node_usage.reset(token)


# LangChain's ``_llm_type`` → the GenAI semantic conventions' ``gen_ai.provider.name``.
_PROVIDER_NAMES = {"openai-chat": "openai", "azure-openai-chat": "azure.ai.openai"}


def provider_name(model: BaseChatModel) -> str:
    """``gen_ai.provider.name`` of ``model`` (its LangChain type when no convention names it)."""
    llm_type = str(getattr(model, "_llm_type", "unknown"))
    return _PROVIDER_NAMES.get(llm_type, llm_type)


def model_name(model: BaseChatModel) -> str:
    """The model's name as the GenAI attributes want it."""
    for attribute in ("model_name", "model"):
        value = getattr(model, attribute, None)
        if isinstance(value, str) and value:
            return value
    return type(model).__name__


@dataclass
class ModelCall:
    """One model call's span: note the first chunk, then finish with the final message."""

    span: Span
    started: float = field(default_factory=time.perf_counter)
    first_chunk_s: float | None = None

    def chunk(self) -> None:
        """Note a streamed chunk (only the first one's time is kept)."""
        if self.first_chunk_s is None:
            self.first_chunk_s = time.perf_counter() - self.started

    def finish(self, message: BaseMessage | None) -> None:
        """Record usage and the response model from the final (aggregated) message."""
        attributes: dict[str, str | int | float] = {}
        if self.first_chunk_s is not None:
            attributes["gen_ai.response.time_to_first_chunk"] = self.first_chunk_s
        meta = getattr(message, "response_metadata", None) or {}
        if meta.get("model_name"):
            attributes["gen_ai.response.model"] = str(meta["model_name"])
        self.span.set_attributes(attributes)  # one call: each takes the span's lock
        usage = getattr(message, "usage_metadata", None) if message is not None else None
        if usage:
            self.usage(usage)

    def usage(self, usage: Mapping[str, int]) -> None:
        """Record the call's token usage on its span and towards its node's total."""
        input_tokens, output_tokens = int(usage["input_tokens"]), int(usage["output_tokens"])
        self.span.set_attributes(
            {"gen_ai.usage.input_tokens": input_tokens, "gen_ai.usage.output_tokens": output_tokens}
        )
        total = _node_usage.get()
        if total is not None:
            total["input_tokens"] += input_tokens
            total["output_tokens"] += output_tokens


@contextmanager
def model_call(tracer: trace.Tracer, model: BaseChatModel) -> Iterator[ModelCall]:
    """A ``chat {model}`` client span around one model call (ended on exit, failed on error)."""
    name = model_name(model)
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider_name(model),
        "gen_ai.request.model": name,
    }
    with tracer.start_as_current_span(
        f"chat {name}", kind=SpanKind.CLIENT, attributes=attributes
    ) as span:
        call = ModelCall(span)
        try:
            yield call
        except BaseException as exc:  # a job timeout cancels the call: that is its error too
            kind = "cancelled" if isinstance(exc, asyncio.CancelledError) else type(exc).__name__
            span.set_status(Status(StatusCode.ERROR, kind))
            failure: dict[str, str | float] = {"error.type": kind}
            if call.first_chunk_s is not None:  # how long the slow call took to start
                failure["gen_ai.response.time_to_first_chunk"] = call.first_chunk_s
            span.set_attributes(failure)
            raise


async def invoke(
    tracer: trace.Tracer, model: BaseChatModel, messages: list[BaseMessage]
) -> AIMessageChunk | BaseMessage:
    """``model.ainvoke`` inside its GenAI span."""
    with model_call(tracer, model) as call:
        reply = await model.ainvoke(messages)
        call.finish(reply)
    return reply
