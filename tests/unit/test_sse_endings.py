"""How an SSE response ends when the client stops reading or the event store drops."""

from __future__ import annotations

import asyncio
import logging
import socket

import httpx
import pytest
import uvicorn

from eco2.domain.errors import UnavailableError
from eco2.domain.events import EventType, StreamEvent
from eco2.entrypoints.api import server as api_server
from eco2.entrypoints.api.app import ApiDeps, create_app
from eco2.entrypoints.api.fanout import StreamFanout
from eco2.entrypoints.api.server import ApiServer, served_app
from eco2.entrypoints.api.sse import SseResponse, sse_frame
from eco2.infrastructure.memory.event_stream import InMemoryEventStream
from eco2.infrastructure.memory.job_queue import InMemoryJobQueue
from eco2.infrastructure.prometheus.noop import NoOpMetrics
from tests.fakes.server import free_port
from tests.sse import parse_sse


def deps_for(events: InMemoryEventStream, client_buffer: int = 1000) -> ApiDeps:
    fanout = StreamFanout(events, sse_frame, client_buffer=client_buffer)
    return ApiDeps(events=events, queue=InMemoryJobQueue(), metrics=NoOpMetrics(), fanout=fanout)


async def test_a_client_that_stops_reading_is_dropped_once_cut_off(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(api_server, "freeze_startup_heap", lambda: 0)
    monkeypatch.setattr(SseResponse, "end_timeout_s", 0.5)
    events = InMemoryEventStream()
    deps = deps_for(events, client_buffer=10)
    await events.publish("slow", EventType.QUEUED, {})
    port = free_port()
    config = uvicorn.Config(served_app(deps), host="127.0.0.1", port=port, log_level="warning")
    server = ApiServer(config, deps.fanout.close, freeze_heap=False)
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
        await asyncio.sleep(0.01)
    uvicorn_log = logging.getLogger("uvicorn.error")  # it does not propagate to the root
    uvicorn_log.addHandler(caplog.handler)
    stalled = socket.socket()  # keeps its connection open, reads nothing
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(stalled, ("127.0.0.1", port))
        stalled.send(b"GET /api/v1/chat/slow/events HTTP/1.1\r\nHost: t\r\n\r\n")
        big = "x" * 4000
        with caplog.at_level(logging.INFO):
            for _ in range(10_000):  # until the socket buffers are full and the queue overflows
                await events.publish("slow", EventType.TOKEN, {"text": big})
                await asyncio.sleep(0.0002)
                if any(r.getMessage() == "sse_client_cut_off" for r in caplog.records):
                    break
            assert any(r.getMessage() == "sse_client_cut_off" for r in caplog.records)
            for _ in range(100):  # the end waits 0.5 s, then the connection is dropped
                if not server.server_state.connections:
                    break
                await asyncio.sleep(0.05)
        assert not server.server_state.connections
        assert any(r.getMessage() == "sse_client_unresponsive" for r in caplog.records)
        # A dropped client is a warning of ours, not an error of the server's.
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    finally:
        uvicorn_log.removeHandler(caplog.handler)
        stalled.close()
        server.should_exit = True
        await asyncio.wait_for(serving, 10)


class DroppingStore(InMemoryEventStream):
    """An event store that goes away when a client's catch-up reads it."""

    async def read(
        self, job_id: str, after: str | None = None, *, count: int = 500
    ) -> list[StreamEvent]:
        if count > 1:  # the catch-up's read (the API checks a position with count=1)
            raise UnavailableError("event store")
        return await super().read(job_id, after, count=count)


async def test_the_store_dropping_during_a_catch_up_ends_the_response_cleanly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events = DroppingStore()
    await events.publish("job", EventType.QUEUED, {})
    app = create_app(deps_for(events))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        with caplog.at_level(logging.WARNING):
            response = await client.get("/api/v1/chat/job/events")
    assert response.status_code == 200 and parse_sse(response.text) == []
    assert "retry:" in response.text  # the client is told how soon to come back
    assert [r.getMessage() for r in caplog.records] == ["sse_store_unavailable"]


async def test_a_failing_request_side_ends_the_stream_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sent: list[dict[str, object]] = []

    async def stream(write: object) -> None:
        await asyncio.Event().wait()  # a live job: only the client's side can end this

    async def receive() -> dict[str, object]:
        raise RuntimeError("the server refused the request body")

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    with caplog.at_level(logging.WARNING):
        await asyncio.wait_for(SseResponse(stream)({"type": "http"}, receive, send), 5)  # type: ignore[arg-type]
    assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    [record] = [r for r in caplog.records if r.getMessage() == "sse_receive_failed"]
    assert record.error == "RuntimeError"  # type: ignore[attr-defined]
