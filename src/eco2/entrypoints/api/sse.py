"""Server-sent event frames of the job stream (DESIGN.md §4) and the response that carries them.

``id:`` is the stream entry id, ``event:`` the type and ``data:`` the payload with its ``seq`` as
one line of JSON (``json.dumps`` escapes line breaks, so one ``data:`` line always suffices).
Frames are encoded once per event; :class:`SseResponse` hands the connection's ``send`` to the
code that streams, so the fan-out can write shared frames to many clients from one task.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from eco2.domain.events import StreamEvent

log = logging.getLogger(__name__)

Write = Callable[[bytes], Coroutine[Any, Any, None]]
"""Sends bytes to one client (one ASGI body chunk of its response)."""
Stream = Callable[[Write], Coroutine[Any, Any, None]]


def sse_frame(event: StreamEvent) -> bytes:
    """Return the SSE frame of ``event``, blank-line terminated."""
    data = json.dumps({"seq": event.seq, **event.payload}, ensure_ascii=False)
    return f"id: {event.id}\nevent: {event.type.value}\ndata: {data}\n\n".encode()


def retry_frame(reconnect_ms: int) -> bytes:
    """The frame that sets how long a client waits before reconnecting; it dispatches nothing."""
    return f"retry: {reconnect_ms}\n\n".encode()


class SseResponse(Response):
    """A ``text/event-stream`` response whose body ``stream(write)`` writes, chunk by chunk.

    The stream ends when ``stream`` returns or raises (the response then ends cleanly: the
    client resumes by id), or when the client goes away (``stream`` is cancelled). Keep-alive
    comments are the stream's business: only it knows when the connection was last written.

    Why not sse-starlette's ``EventSourceResponse``: it pulls each chunk from an iterator in the
    connection's own task, so a thousand clients on one job meant a thousand task switches and
    a thousand trips through its send wrapper per event; here the fan-out's reader writes to
    every client that keeps up directly (README, "Choices").
    """

    media_type = "text/event-stream"
    end_timeout_s = 5.0
    """Longest wait to end the response; a client that reads nothing for that long is dropped."""

    def __init__(self, stream: Stream) -> None:
        super().__init__(
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
            media_type=self.media_type,
        )
        del self.headers["content-length"]  # streamed: chunked transfer encoding
        self._stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )

        # Body chunks skip the middleware chain when the server's own send is at hand
        # (``ServerSend``): every middleware here passes them through untouched, and they still
        # see the response start and its end, which go the normal way.
        body_send: Send = scope.get(SERVER_SEND_KEY) or send

        async def write(data: bytes) -> None:
            await body_send({"type": "http.response.body", "body": data, "more_body": True})

        streaming = asyncio.ensure_future(self._stream(write))
        leaving = asyncio.ensure_future(_disconnected(receive))
        try:
            await asyncio.wait({streaming, leaving}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (streaming, leaving):
                task.cancel()
            await asyncio.wait({streaming, leaving})
        if leaving.done() and not leaving.cancelled() and leaving.exception() is not None:
            # The request side failed (e.g. a body the server refused): the stream ends, the
            # client resumes by id; said in the log rather than lost as an unretrieved error.
            error = type(leaving.exception()).__name__
            log.warning("sse_receive_failed", extra={"path": scope.get("path"), "error": error})
        if streaming.done() and not streaming.cancelled():
            streaming.result()  # a failure of the stream is the app's error, not silence
        try:
            async with asyncio.timeout(self.end_timeout_s):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except TimeoutError:
            # The client keeps the connection open but reads nothing (typically one the fan-out
            # just cut off for falling behind): the server would wait for its socket to drain
            # for ever, and closing would too. Drop the connection; the client resumes by id.
            log.warning("sse_client_unresponsive", extra={"path": scope.get("path")})
            _abort(body_send)
            await asyncio.sleep(0)  # the server learns of the loss before the app returns


SERVER_SEND_KEY = "eco2.server_send"


def _abort(server_send: Send) -> None:
    """Drop the connection under ``server_send`` (uvicorn's, found through ``ServerSend``).

    ASGI has no way to abort a connection, and a transport's ``close`` waits for its buffer to
    drain, which a client that reads nothing never lets happen. Under another server, or
    without ``ServerSend``, this does nothing and the server's own handling applies.
    """
    transport = getattr(getattr(server_send, "__self__", None), "transport", None)
    abort = getattr(transport, "abort", None)
    if callable(abort):
        abort()


class ServerSend:
    """Outermost ASGI wrapper: puts the server's ``send`` in the scope for :class:`SseResponse`.

    A thousand clients on one job meant a thousand trips per event through every middleware's
    send wrapper (Starlette's error and exception handlers, the HTTP metrics, OpenTelemetry's),
    each only passing body chunks on; the event stream's chunks go to the server directly.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[SERVER_SEND_KEY] = send
        await self.app(scope, receive, send)


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
