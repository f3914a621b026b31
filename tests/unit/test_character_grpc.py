"""The character service over gRPC: a real ``grpc.aio`` server on loopback, the client adapter,
deadlines and typed errors, tracing, the ``character-server`` command and the code generator."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from eco2.application.ports.integrations import CharacterCatalogPort
from eco2.domain.errors import SubagentError
from eco2.infrastructure.integrations.character_grpc import codegen
from eco2.infrastructure.integrations.character_grpc.client import GrpcCharacterCatalog
from eco2.infrastructure.integrations.character_grpc.errors import (
    CharacterServiceError,
    CharacterServiceTimeoutError,
    CharacterServiceUnavailableError,
)
from eco2.infrastructure.integrations.character_grpc.protocol import SERVICE_NAME
from eco2.infrastructure.integrations.character_grpc.server import CharacterServer, start_server
from eco2.infrastructure.integrations.characters import LocalCharacterCatalog
from eco2.infrastructure.integrations.config import IntegrationSettings
from eco2.infrastructure.integrations.factory_other import build_other_integrations
from eco2.infrastructure.integrations.http.errors import ProviderUnavailableError
from tests.fakes.providers.characters import BrokenCharacterCatalog, SlowCharacterCatalog

ROOT = Path(__file__).resolve().parents[2]
QUERIES = [
    ("페트병 어떻게 버려?", ["pet"]),
    ("이코랑 캐니 알려줘", []),
    ("Glassy 소개해줘", ["metal", "glass"]),
    ("아무 말", []),
    ("", ["general", "pet", "no-such-category"]),
]


@pytest.fixture
async def server() -> AsyncIterator[CharacterServer]:
    running = await start_server(LocalCharacterCatalog(), host="127.0.0.1", port=0)
    yield running
    await running.stop(0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_list_all_matches_the_in_process_catalogue(server: CharacterServer) -> None:
    client: CharacterCatalogPort = GrpcCharacterCatalog(f"127.0.0.1:{server.port}", 2.0)
    assert await client.list_all() == await LocalCharacterCatalog().list_all()
    assert isinstance(client, GrpcCharacterCatalog)
    await client.close()


@pytest.mark.parametrize(("text", "categories"), QUERIES)
async def test_find_gives_the_same_answers_as_the_in_process_adapter(
    server: CharacterServer, text: str, categories: list[str]
) -> None:
    client = GrpcCharacterCatalog(f"127.0.0.1:{server.port}", 2.0)
    remote = await client.find(text, categories)
    assert remote == await LocalCharacterCatalog().find(text, categories)
    await client.close()


async def test_find_puts_named_characters_first(server: CharacterServer) -> None:
    client = GrpcCharacterCatalog(f"127.0.0.1:{server.port}", 2.0)
    found = await client.find("캐니 말고 페티", ["glass"])
    assert {c.id for c in found[:2]} == {"canny", "petty"}
    assert found[2].id == "glassy"
    await client.close()


async def test_a_slow_server_past_the_deadline_is_a_timeout_error() -> None:
    running = await start_server(SlowCharacterCatalog(delay_s=1.0), port=0)
    client = GrpcCharacterCatalog(f"127.0.0.1:{running.port}", timeout_s=0.1)
    try:
        with pytest.raises(CharacterServiceTimeoutError) as caught:
            await client.find("페트병", ["pet"])
        assert isinstance(caught.value, ProviderUnavailableError)
        assert isinstance(caught.value, SubagentError)
        assert "DEADLINE_EXCEEDED" in str(caught.value)
    finally:
        await client.close()
        await running.stop(0)


async def test_a_server_that_is_down_is_an_unavailable_error() -> None:
    client = GrpcCharacterCatalog(f"127.0.0.1:{free_port()}", timeout_s=2.0)
    with pytest.raises(CharacterServiceUnavailableError) as caught:
        await client.list_all()
    assert isinstance(caught.value, ProviderUnavailableError)
    assert caught.value.provider == "character"
    await client.close()


async def test_a_failing_servicer_is_a_service_error_that_tells_users_nothing_internal() -> None:
    running = await start_server(BrokenCharacterCatalog(), port=0)
    client = GrpcCharacterCatalog(f"127.0.0.1:{running.port}", timeout_s=2.0)
    try:
        with pytest.raises(CharacterServiceError) as caught:
            await client.find("페트병", [])
        # The message reaches the job's public events: the status, not the exception's text.
        assert str(caught.value.args[-1]).endswith("FindCharacters failed: INTERNAL")
    finally:
        await client.close()
        await running.stop(0)


async def test_a_second_server_on_a_busy_port_fails_to_start(server: CharacterServer) -> None:
    with pytest.raises(OSError, match="cannot bind"):
        await start_server(LocalCharacterCatalog(), host="127.0.0.1", port=server.port)


async def test_the_client_is_back_soon_after_the_server_is() -> None:
    port = free_port()
    client = GrpcCharacterCatalog(f"127.0.0.1:{port}", timeout_s=1.0)
    try:
        for _ in range(40):  # down for 20 s: gRPC's default backoff would be ~10 s by then
            with pytest.raises(CharacterServiceUnavailableError):
                await client.list_all()
            await asyncio.sleep(0.5)
        running = await start_server(LocalCharacterCatalog(), host="127.0.0.1", port=port)
        try:
            loop = asyncio.get_running_loop()
            back, answered = loop.time(), False
            while not answered and loop.time() - back < 10:
                try:
                    answered = bool(await client.list_all())
                except CharacterServiceUnavailableError:
                    await asyncio.sleep(0.1)
            assert answered and loop.time() - back < 3  # at most one short backoff away
        finally:
            await running.stop(0)
    finally:
        await client.close()


async def test_the_health_service_reports_serving(server: CharacterServer) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for name in ("", SERVICE_NAME):
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=2)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_a_draining_server_reports_not_serving_but_still_answers() -> None:
    running = await start_server(LocalCharacterCatalog(), port=0)
    stopping = asyncio.create_task(running.stop(grace_s=0, drain_s=1.0))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        health_stub = health_pb2_grpc.HealthStub(channel)
        for _ in range(50):  # the stop task turns the health check first
            reply = await health_stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
            if reply.status == health_pb2.HealthCheckResponse.NOT_SERVING:
                break
            await asyncio.sleep(0.01)
        assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
        assert not stopping.done()
        client = GrpcCharacterCatalog(f"127.0.0.1:{running.port}", 2.0)
        try:
            assert [c.id for c in await client.find("캐니", [])] == ["canny"]
            await stopping
            with pytest.raises(ProviderUnavailableError):
                await client.find("캐니", [])
        finally:
            await client.close()


def test_constructing_the_client_connects_to_nothing() -> None:
    client = GrpcCharacterCatalog("127.0.0.1:1", timeout_s=0.5)
    assert client.target == "127.0.0.1:1"
    with pytest.raises(ValueError):
        GrpcCharacterCatalog("127.0.0.1:1", timeout_s=0)


async def test_calls_are_child_spans_and_the_server_continues_the_trace() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    running = await start_server(LocalCharacterCatalog(), port=0, tracer_provider=provider)
    client = GrpcCharacterCatalog(f"127.0.0.1:{running.port}", 2.0, tracer_provider=provider)
    try:
        with provider.get_tracer("test").start_as_current_span("subagent.character") as parent:
            await client.find("페트병", ["pet"])
        trace_id = parent.get_span_context().trace_id
    finally:
        await client.close()
        await running.stop(0)
    spans = {span.kind: span for span in exporter.get_finished_spans()}
    client_span, server_span = spans[SpanKind.CLIENT], spans[SpanKind.SERVER]
    assert client_span.name == f"/{SERVICE_NAME}/FindCharacters"
    assert client_span.parent is not None
    assert client_span.parent.span_id == parent.get_span_context().span_id
    assert server_span.context is not None and server_span.context.trace_id == trace_id
    assert server_span.parent is not None
    assert server_span.parent.span_id == client_span.context.span_id
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_the_command_serves_and_stops_gracefully_on_sigterm() -> None:
    port = free_port()
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": "", "LANGSMITH_OTEL_ENABLED": ""}
    script = (
        "import typer\n"
        "from eco2.entrypoints.cli.character_server import character_server\n"
        "typer.run(character_server)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, "--port", str(port)],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert f"127.0.0.1:{port}" in line, line

        async def call() -> list[str]:
            client = GrpcCharacterCatalog(f"127.0.0.1:{port}", 5.0)
            try:
                return [c.id for c in await client.find("캐니", [])]
            finally:
                await client.close()

        assert asyncio.run(call()) == ["canny"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


async def test_the_factory_uses_grpc_only_when_a_target_is_set(
    server: CharacterServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ECO2_CHARACTER_GRPC_TARGET", raising=False)
    embedded = build_other_integrations(IntegrationSettings())
    assert isinstance(embedded["characters"], LocalCharacterCatalog)
    target = f"127.0.0.1:{server.port}"
    distributed = build_other_integrations(
        IntegrationSettings(ECO2_CHARACTER_GRPC_TARGET=target, ECO2_CHARACTER_TIMEOUT_S=0.25)
    )
    characters = distributed["characters"]
    assert isinstance(characters, GrpcCharacterCatalog)
    assert characters.timeout_s == 0.25  # each call's deadline comes from the setting
    assert [c.id for c in await characters.find("글래시", [])] == ["glassy"]
    for built in (embedded, distributed):
        aclose = built["aclose"]
        assert callable(aclose)
        await aclose()


def test_the_generator_writes_importable_modules_with_absolute_imports(tmp_path: Path) -> None:
    written = codegen.generate(ROOT / codegen.PROTO_FILE, tmp_path)
    names = sorted(p.name for p in written)
    assert names == [
        "__init__.py",
        "character_pb2.py",
        "character_pb2.pyi",
        "character_pb2_grpc.py",
    ]
    grpc_module = (tmp_path / codegen.PACKAGE_PATH / "character_pb2_grpc.py").read_text()
    package = str(codegen.PACKAGE_PATH).replace("/", ".")
    assert f"from {package} import character_pb2" in grpc_module
    assert "DO NOT EDIT" in grpc_module


def test_the_generator_refuses_a_missing_proto(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        codegen.generate(tmp_path / "nope.proto", tmp_path)
