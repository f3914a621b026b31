"""OpenTelemetry tracing: provider set-up from the standard environment, W3C propagation.

On when ``LANGSMITH_OTEL_ENABLED=true`` or an ``OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT`` is set;
the OTLP/HTTP exporter then reads the standard ``OTEL_EXPORTER_OTLP_*`` variables itself.
One trace runs from ``POST /api/v1/chat`` through the queue message (``traceparent`` in its
headers) into the worker's job span, every node, sub-agent and model call.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

log = logging.getLogger(__name__)

INSTRUMENTATION = "eco2"
_TRUE = {"1", "true", "yes", "on"}


def otel_enabled(env: Mapping[str, str]) -> bool:
    """Whether the environment asks for OpenTelemetry tracing."""
    return (env.get("LANGSMITH_OTEL_ENABLED", "").strip().lower() in _TRUE) or bool(
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def build_tracer_provider(
    service_name: str, exporter: SpanExporter | None = None
) -> TracerProvider:
    """A provider exporting in batches (OTLP/HTTP from the environment unless given one)."""
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def tracer_from_env(env: Mapping[str, str], service_name: str) -> trace.Tracer:
    """The process's tracer: real when the environment enables OTEL, a no-op one otherwise."""
    if not otel_enabled(env):
        return trace.NoOpTracer()
    name = env.get("OTEL_SERVICE_NAME") or service_name
    provider = build_tracer_provider(name)
    trace.set_tracer_provider(provider)
    log.info("otel_tracing_enabled", extra={"service": name})
    return provider.get_tracer(INSTRUMENTATION)


def trace_id_of_current_span() -> str | None:
    """The current span's trace id as 32 hex digits, or ``None`` outside a recorded span."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def inject_headers() -> dict[str, str]:
    """The current context as W3C trace-context headers (``traceparent``, ``tracestate``)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def extract_context(headers: Mapping[str, Any]) -> Any:
    """The context carried in message headers."""
    return propagate.extract({k: str(v) for k, v in headers.items()})
