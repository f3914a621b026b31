"""The HTTP API in embedded mode: validation, job round trip, SSE resume, status, snapshot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, MutableMapping
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from eco2.bootstrap import Application
from eco2.bootstrap.serving import build_embedded
from eco2.domain.errors import UnavailableError
from eco2.domain.events import EventType
from eco2.entrypoints.api.app import create_app
from eco2.infrastructure.prometheus.metrics import PrometheusMetrics
from tests.fakes.server import free_port
from tests.sse import SseEvent, parse_sse


@pytest.fixture
async def api(make_app: Callable[..., Application]) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(build_embedded(application=make_app()))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://eco2.test") as client:
            yield client


async def chat(api: httpx.AsyncClient, message: str, **extra: Any) -> dict[str, Any]:
    response = await api.post("/api/v1/chat", json={"message": message, **extra})
    assert response.status_code == 202, response.text
    return dict(response.json())


async def events(api: httpx.AsyncClient, job_id: str, last_id: str | None = None) -> list[SseEvent]:
    headers = {"Last-Event-ID": last_id} if last_id else {}
    response = await api.get(f"/api/v1/chat/{job_id}/events", headers=headers, timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    return parse_sse(response.text)


async def test_round_trip_and_the_token_invariant(api: httpx.AsyncClient) -> None:
    accepted = await chat(api, "페트병 어떻게 버려?")
    assert accepted["stream_url"] == f"/api/v1/chat/{accepted['job_id']}/events"
    assert len(accepted["trace_id"]) == 32
    stream = await events(api, accepted["job_id"])
    assert stream[0].event == "queued" and stream[-1].event == "done"
    assert [e.data["seq"] for e in stream] == list(range(1, len(stream) + 1))
    tokens = "".join(e.data["text"] for e in stream if e.event == "token")
    assert tokens == stream[-1].data["answer"] and "투명 페트병" in tokens
    status = (await api.get(f"/api/v1/chat/{accepted['job_id']}")).json()
    assert status["status"] == "done" and status["result"]["answer"] == tokens


async def test_resume_after_every_event_reconstructs_the_answer(api: httpx.AsyncClient) -> None:
    job_id = (await chat(api, "소파 버리는 방법이랑 내일 날씨"))["job_id"]
    full = await events(api, job_id)
    for i, cut in enumerate(full[:-1]):
        rest = await events(api, job_id, last_id=cut.id)
        assert [e.id for e in rest] == [e.id for e in full[i + 1 :]]
    snapshot = (await api.get(f"/api/v1/chat/{job_id}/snapshot")).json()
    assert snapshot["text"] == full[-1].data["answer"]
    assert snapshot["last_event_id"] == full[-1].id


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"message": ""}, 422, "message"),
        ({"message": "x" * 2001}, 422, "message"),
        (
            {"message": "hi", "user_location": {"latitude": 95, "longitude": 0}},
            422,
            "user_location.latitude",
        ),
        (
            {"message": "hi", "user_location": {"latitude": True, "longitude": 127}},
            422,
            "user_location.latitude",
        ),
        ({"message": "hi", "session_id": "has space"}, 422, "session_id"),
        ({"message": "hi", "extra": 1}, 422, "extra"),
        ({}, 422, "message"),
    ],
)
async def test_validation_errors_name_the_field(
    api: httpx.AsyncClient, body: dict[str, Any], status: int, field: str
) -> None:
    response = await api.post("/api/v1/chat", json=body)
    assert response.status_code == status
    assert field in [f["field"] for f in response.json()["fields"]]


async def test_malformed_json_and_oversized_bodies(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/api/v1/chat", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400 and response.json()["error"] == "malformed_json"
    response = await api.post("/api/v1/chat", json={"message": "가" * 20_000})
    assert response.status_code == 413


async def test_unknown_job_is_404(api: httpx.AsyncClient) -> None:
    for path in ("", "/events", "/snapshot"):
        response = await api.get(f"/api/v1/chat/nope{path}")
        assert response.status_code == 404 and response.json()["error"] == "not_found"


async def test_health_ready_docs_and_page(api: httpx.AsyncClient) -> None:
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    ready = await api.get("/readyz")
    assert ready.status_code == 200 and all(ready.json()["checks"].values())
    assert "/api/v1/chat" in (await api.get("/openapi.json")).json()["paths"]
    page = await api.get("/")
    assert page.status_code == 200 and "EventSource" in page.text


async def test_a_broker_that_never_answers_is_not_ready_within_the_probes_time(
    make_app: Callable[..., Application], monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    from eco2.entrypoints.api import job_state

    class Hung:  # accepts the connection, never answers
        def __getattr__(self, name: str) -> Any:
            return getattr(deps.queue, name)

        async def ping(self) -> bool:
            await asyncio.Event().wait()
            return True

    monkeypatch.setattr(job_state, "READY_CHECK_S", 0.2)
    deps = build_embedded(application=make_app())
    app = create_app(replace(deps, queue=Hung()))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://eco2.test") as client:
            ready = await asyncio.wait_for(client.get("/readyz"), 5)
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"queue": False, "events": True}


@pytest.mark.parametrize("bad", ["yesterday", f"{2**64}-0", f"1-{2**64}"])
async def test_malformed_last_event_id_is_a_400(api: httpx.AsyncClient, bad: str) -> None:
    job_id = (await chat(api, "안녕하세요"))["job_id"]
    response = await api.get(f"/api/v1/chat/{job_id}/events", headers={"Last-Event-ID": bad})
    assert response.status_code == 400 and response.json()["error"] == "invalid_event_id"
    text = (await api.get("/metrics")).text
    assert 'chat_stream_recovery_total{status="error",type="catch_up"} 1.0' in text


async def test_metrics_endpoint_shows_http_sse_and_pipeline_metrics(api: httpx.AsyncClient) -> None:
    job_id = (await chat(api, "페트병 어떻게 버려?"))["job_id"]
    first = await events(api, job_id)
    await events(api, job_id, last_id=first[2].id)
    await api.get(f"/api/v1/chat/{job_id}/snapshot")
    text = (await api.get("/metrics")).text
    assert 'chat_http_requests_total{method="POST",route="/api/v1/chat",status="202"} 1.0' in text
    assert 'route="/api/v1/chat/{job_id}/events"' in text and job_id not in text
    assert 'chat_stream_recovery_total{status="success",type="catch_up"} 1.0' in text
    assert 'chat_stream_recovery_total{status="success",type="snapshot"} 1.0' in text
    assert "chat_sse_clients_connected 0.0" in text
    assert 'chat_requests_total{intent="waste",provider="offline",status="success"} 1.0' in text
    assert "process_cpu_seconds_total" in text


async def test_trace_endpoint_gives_the_node_waterfall(api: httpx.AsyncClient) -> None:
    accepted = await chat(api, "소파 버리는 방법이랑 내일 날씨")
    await events(api, accepted["job_id"])
    trace = (await api.get(f"/api/v1/chat/{accepted['job_id']}/trace")).json()
    assert trace["status"] == "done" and trace["trace_id"] == accepted["trace_id"]
    names = [n["name"] for n in trace["nodes"]]
    assert names[:2] == ["intent", "router"] and {"bulk_waste", "weather"} <= set(names)
    assert (await api.get("/api/v1/chat/nope/trace")).status_code == 404


@pytest.mark.parametrize("server_send", [False, True])
async def test_the_sse_response_streams_chunks_and_stops_when_the_client_leaves(
    server_send: bool,
) -> None:
    from eco2.entrypoints.api.sse import SERVER_SEND_KEY, SseResponse, Write

    sent: list[dict[str, Any]] = []  # through the middleware chain
    direct: list[dict[str, Any]] = []  # to the server's own send (``ServerSend``)
    left = asyncio.Event()
    stopped = asyncio.Event()

    async def stream(write: Write) -> None:
        await write(b"data: 1\n\n")
        try:
            await asyncio.Event().wait()  # a stream with nothing more to say
        finally:
            stopped.set()

    async def receive() -> dict[str, Any]:
        await left.wait()
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    async def to_server(message: MutableMapping[str, Any]) -> None:
        direct.append(dict(message))

    scope: dict[str, Any] = {"type": "http"}
    if server_send:
        scope[SERVER_SEND_KEY] = to_server
    serving = asyncio.create_task(SseResponse(stream)(scope, receive, send))
    await asyncio.sleep(0.05)
    headers = dict(sent[0]["headers"])
    assert sent[0]["status"] == 200 and headers[b"content-type"].startswith(b"text/event-stream")
    assert b"content-length" not in headers and headers[b"cache-control"] == b"no-store"
    chunk = {"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True}
    # Body chunks bypass the middlewares when the server's send is known; start and end do not.
    assert (direct, sent[1:]) == (([chunk], []) if server_send else ([], [chunk]))
    left.set()
    await asyncio.wait_for(serving, 5)
    assert stopped.is_set() and sent[-1]["more_body"] is False and len(direct) <= 1


async def test_server_send_puts_the_servers_send_in_the_scope() -> None:
    from eco2.entrypoints.api.sse import SERVER_SEND_KEY, ServerSend

    seen: list[bool] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope.get(SERVER_SEND_KEY) is send)

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        pass

    await ServerSend(app)({"type": "http"}, receive, send)
    assert seen == [True]


async def test_shutdown_ends_open_streams_instead_of_waiting_for_their_jobs(
    make_app: Callable[..., Application], monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    from eco2.entrypoints.api import server as api_server
    from eco2.entrypoints.api.server import ApiServer, served_app

    frozen: list[bool] = []

    def freeze() -> int:  # the real one would pin this test process's heap
        frozen.append(True)
        return 0

    monkeypatch.setattr(api_server, "freeze_startup_heap", freeze)

    deps = build_embedded(application=make_app())
    await deps.events.publish("stuck", EventType.QUEUED, {})  # a job that never ends
    port = free_port()
    config = uvicorn.Config(served_app(deps), host="127.0.0.1", port=port, log_level="warning")
    server = ApiServer(config, deps.fanout.close)
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
        await asyncio.sleep(0.01)
    async with (
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client,
        client.stream("GET", "/api/v1/chat/stuck/events") as response,
    ):
        received = ""
        async for text in response.aiter_text():
            received += text
            if "event: queued" in received and not server.should_exit:
                server.should_exit = True  # what SIGTERM does
    await asyncio.wait_for(serving, 10)  # the open stream did not hold the shutdown up
    assert [e.event for e in parse_sse(received)] == ["queued"]
    assert frozen == [True]  # once started, the startup heap left the collector's passes


def test_the_api_bounds_its_graceful_shutdown(
    make_app: Callable[..., Application], monkeypatch: pytest.MonkeyPatch
) -> None:
    from eco2.entrypoints.api import server as api_server

    configs: list[Any] = []
    monkeypatch.setattr(
        api_server.ApiServer, "run", lambda self, sockets: configs.append(self.config)
    )
    deps = build_embedded(application=make_app())
    api_server.run_api(deps, "127.0.0.1", 0)
    api_server.run_api(deps, "127.0.0.1", 0, timeout_graceful_shutdown=3)
    assert [c.timeout_graceful_shutdown for c in configs] == [api_server.GRACEFUL_SHUTDOWN_S, 3]


async def test_a_body_over_the_limit_without_its_length_is_a_413(api: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:  # chunked: no Content-Length to go by
        yield b'{"message": "'
        for _ in range(100):
            yield "가".encode() * 100
        yield b'"}'

    response = await api.post(
        "/api/v1/chat", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413 and response.json()["error"] == "payload_too_large"
    assert [f["field"] for f in response.json()["fields"]] == ["body"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        ("GET", "/api/v1/nothing-here", None, 404, "not_found"),
        ("PUT", "/api/v1/chat", None, 405, "method_not_allowed"),
        ("POST", "/api/v1/chat", b'{"message": "\xff\xfe"}', 400, "malformed_body"),
    ],
)
async def test_every_refusal_has_the_api_error_shape(
    api: httpx.AsyncClient, method: str, path: str, body: bytes | None, status: int, error: str
) -> None:
    headers = {"content-type": "application/json"}
    response = await api.request(method, path, content=body, headers=headers)
    assert response.status_code == status
    assert response.json()["error"] == error and "message" in response.json()


@pytest.mark.parametrize(
    ("down", "method", "path"),
    [
        ("read", "GET", "/api/v1/chat/some-job"),
        ("exists", "GET", "/api/v1/chat/some-job/events"),
        ("publish", "POST", "/api/v1/chat"),
        ("enqueue", "POST", "/api/v1/chat"),
    ],
)
async def test_an_unreachable_store_or_queue_is_a_503_to_retry(
    make_app: Callable[..., Application],
    monkeypatch: pytest.MonkeyPatch,
    down: str,
    method: str,
    path: str,
) -> None:
    deps = build_embedded(application=make_app())

    async def unreachable(*_: Any, **__: Any) -> Any:
        if down == "enqueue":
            raise ConnectionRefusedError("broker down")
        raise UnavailableError("event store")

    monkeypatch.setattr(deps.queue if down == "enqueue" else deps.events, down, unreachable)
    app: FastAPI = create_app(deps)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://eco2.test") as client:
        response = await client.request(method, path, json={"message": "페트병"})
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "unavailable"
    assert response.headers["retry-after"] == "2"
    if down == "enqueue":
        assert isinstance(deps.metrics, PrometheusMetrics)
        failed = {"intent": "other", "error_type": "enqueue_failed"}
        assert deps.metrics.registry.get_sample_value("chat_errors_total", failed) == 1


async def test_a_failing_dependency_is_a_json_500_not_a_stack_trace(
    make_app: Callable[..., Application], monkeypatch: pytest.MonkeyPatch
) -> None:
    deps = build_embedded(application=make_app())

    async def store_down(*_: Any, **__: Any) -> list[Any]:
        raise RuntimeError("connection refused")

    monkeypatch.setattr(deps.events, "read", store_down)
    app: FastAPI = create_app(deps)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://eco2.test") as client:
        response = await client.get("/api/v1/chat/some-job")
    assert response.status_code == 500
    assert response.json()["error"] == "internal_error"
    assert "connection refused" not in response.text


async def test_a_last_event_id_past_the_end_of_the_stream_is_a_400(api: httpx.AsyncClient) -> None:
    job_id = (await chat(api, "안녕하세요"))["job_id"]
    received = await events(api, job_id)
    past_the_end = f"{int(received[-1].id.partition('-')[0]) + 1}-0"
    url, headers = f"/api/v1/chat/{job_id}/events", {"Last-Event-ID": past_the_end}
    response = await asyncio.wait_for(api.get(url, headers=headers), 10)  # followed: no end
    assert response.status_code == 400 and response.json()["error"] == "invalid_event_id"
    # From its last entry (the terminal one) the stream ends at once, with nothing more.
    assert await asyncio.wait_for(events(api, job_id, received[-1].id), 10) == []


async def test_the_last_entry_id_in_its_milliseconds_form_is_a_valid_resume_point(
    make_app: Callable[..., Application],
) -> None:
    deps = build_embedded(application=make_app())
    await deps.events.publish("j", EventType.QUEUED, {})
    await asyncio.sleep(0.002)  # the next entry opens a new millisecond: "<ms>-0"
    done = await deps.events.publish("j", EventType.DONE, {"answer": ""})
    ms, _, n = done.id.partition("-")
    assert n == "0"
    app: FastAPI = create_app(deps)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://eco2.test") as client:
        response = await asyncio.wait_for(
            client.get("/api/v1/chat/j/events", headers={"Last-Event-ID": ms}), 10
        )
    assert response.status_code == 200 and "event:" not in response.text
