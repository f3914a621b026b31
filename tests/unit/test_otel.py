"""OpenTelemetry: one trace from POST /api/v1/chat to every node, sub-agent and model call."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from eco2.bootstrap import Application
from eco2.bootstrap.serving import build_embedded
from eco2.entrypoints.api.app import create_app
from eco2.infrastructure.telemetry.otel import INSTRUMENTATION, build_tracer_provider, otel_enabled
from tests.fakes.server import serving
from tests.sse import parse_sse


async def run_chat(
    make_app: Callable[..., Application], provider: TracerProvider, message: str
) -> dict[str, Any]:
    tracer = provider.get_tracer(INSTRUMENTATION)
    app: FastAPI = create_app(
        build_embedded(application=make_app(tracer=tracer), tracer_provider=provider)
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://eco2.test") as client:
            accepted = (await client.post("/api/v1/chat", json={"message": message})).json()
            stream = await client.get(accepted["stream_url"], timeout=30)
            events = parse_sse(stream.text)
    assert events[-1].event == "done"
    return {"accepted": accepted, "events": events}


@pytest.fixture
def memory_provider() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "eco2-test"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def by_name(spans: tuple[ReadableSpan, ...]) -> dict[str, ReadableSpan]:
    return {span.name: span for span in spans}


async def test_one_trace_from_the_request_to_every_node(
    make_app: Callable[..., Application],
    memory_provider: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = memory_provider
    secret_message = "페트병 어떻게 버려? 비밀문장123"
    result = await run_chat(make_app, provider, secret_message)
    spans = exporter.get_finished_spans()
    names = by_name(spans)
    trace_id = result["accepted"]["trace_id"]
    traces: dict[str, list[str]] = {}
    for s in spans:
        traces.setdefault(format(s.context.trace_id, "032x"), []).append(s.name)
    # The job's trace, and the SSE GET as a request of its own.
    assert len(traces) == 2 and traces.pop(trace_id)
    assert list(traces.values()) == [["GET /api/v1/chat/{job_id}/events"]]
    assert result["events"][-1].data["trace_id"] == trace_id

    server = names["POST /api/v1/chat"]
    publish = names["publish eco2.chat.jobs"]
    job = names["chat job"]
    assert server.kind is SpanKind.SERVER and publish.kind is SpanKind.PRODUCER
    assert publish.parent is not None and publish.parent.span_id == server.context.span_id
    assert job.kind is SpanKind.CONSUMER
    assert job.parent is not None and job.parent.span_id == publish.context.span_id
    for node in ("intent", "router", "waste_rag", "weather", "aggregator", "answer"):
        span = names[f"node {node}"]
        assert span.parent is not None and span.parent.span_id == job.context.span_id, node
    # A sub-agent call is its node's whole work: the node's span is the call's.
    weather = dict(names["node weather"].attributes or {})
    assert weather["eco2.subagent"] == "weather" and weather["eco2.status"] == "not_configured"
    assert "eco2.subagent" not in dict(names["node answer"].attributes or {})
    assert not [s for s in spans if s.name.startswith("subagent ")]

    [model] = [s for s in spans if s.name.startswith("chat eco2-offline")]
    attrs = dict(model.attributes or {})
    assert model.parent is not None and model.parent.span_id == names["node answer"].context.span_id
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == "eco2-offline-answer"
    assert int(attrs["gen_ai.usage.output_tokens"]) > 0  # type: ignore[call-overload]
    assert float(attrs["gen_ai.response.time_to_first_chunk"]) >= 0  # type: ignore[arg-type]
    for span in spans:  # no message text unless explicitly enabled
        assert "비밀문장123" not in str(dict(span.attributes or {}))


def test_enabled_by_the_standard_environment() -> None:
    assert otel_enabled({"LANGSMITH_OTEL_ENABLED": "true"})
    assert otel_enabled({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert not otel_enabled({})


class Receiver:
    """A local OTLP/HTTP receiver that decodes what it gets."""

    def __init__(self) -> None:
        self.spans: list[str] = []
        self.content_types: list[str] = []

    async def traces(self, request: Request) -> Response:
        self.content_types.append(request.headers.get("content-type", ""))
        payload = ExportTraceServiceRequest()
        payload.ParseFromString(await request.body())
        for resource in payload.resource_spans:
            for scope in resource.scope_spans:
                self.spans.extend(span.name for span in scope.spans)
        return Response(ExportTraceServiceRequest().SerializeToString())


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver()
    app = Starlette(routes=[Route("/v1/traces", state.traces, methods=["POST"])])
    with serving(app, "OTLP receiver") as url:
        yield state, f"{url}/v1/traces"


async def test_spans_reach_an_otlp_http_receiver(
    make_app: Callable[..., Application], receiver: tuple[Receiver, str]
) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    state, endpoint = receiver
    provider = build_tracer_provider("eco2-wire-test", OTLPSpanExporter(endpoint=endpoint))
    await run_chat(make_app, provider, "이코 소개해줘")
    await asyncio.to_thread(provider.shutdown)  # flushes the batch processor over HTTP
    assert "chat job" in state.spans and "node character" in state.spans
    assert state.content_types[0] == "application/x-protobuf"


def test_the_provider_name_is_the_semantic_conventions_one() -> None:
    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    from eco2.infrastructure.llm.offline_models import OfflineAnswerModel
    from eco2.pipeline.genai_spans import provider_name

    assert provider_name(ChatOpenAI(model="gpt-4o-mini", api_key=SecretStr("sk-test"))) == "openai"
    assert provider_name(OfflineAnswerModel()) == "eco2-offline"  # no convention names it


async def test_a_timed_out_job_is_an_error_in_its_trace(
    make_app: Callable[..., Application],
    memory_provider: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    """Jaeger's error search finds the job; its model call says how long it took to start."""
    import time

    from eco2.application.ports.jobs import JobMessage
    from eco2.domain.chat import new_job_id, new_trace_id
    from eco2.entrypoints.worker.runner import ChatWorker
    from eco2.infrastructure.llm.offline_models import OfflineAnswerModel
    from eco2.infrastructure.memory.job_queue import InMemoryJobQueue
    from tests.unit.test_worker import FakeDelivery

    provider, exporter = memory_provider
    tracer = provider.get_tracer(INSTRUMENTATION)
    app = make_app(tracer=tracer, answer_model=OfflineAnswerModel(tokens_per_s=5))
    worker = ChatWorker(
        InMemoryJobQueue(), app.process_chat, app.events, metrics=app.metrics,
        tracer=tracer, job_timeout_s=0.5, freeze_heap=False,
    )  # fmt: skip
    message = JobMessage(new_job_id(), new_trace_id(), {"message": "안녕하세요"}, time.time(), {})
    await worker.handle(FakeDelivery(message))
    names = by_name(exporter.get_finished_spans())
    job = names["chat job"]
    assert job.status.status_code is StatusCode.ERROR
    assert dict(job.attributes or {})["error.type"] == "timeout"
    [model] = [s for n, s in names.items() if n.startswith("chat eco2-offline-answer")]
    attributes = dict(model.attributes or {})
    assert model.status.status_code is StatusCode.ERROR and attributes["error.type"] == "cancelled"
    assert float(attributes["gen_ai.response.time_to_first_chunk"]) >= 0  # type: ignore[arg-type]
