"""A minimal HTTP/1.1 SSE client on an asyncio protocol, for ``eco2 bench stream``'s clients.

It sends one ``GET`` (with ``Last-Event-ID`` when resuming, and ``Connection: close`` so the
server ends the connection with the stream), checks for ``200`` and then only stamps and keeps
what arrives: undoing the chunked transfer encoding and splitting SSE event blocks waits until the
connection ends, or until a connection has buffered ``_DEFER_BYTES``. A thousand clients share one
process and the machine's two CPUs with the API being measured; parsing as bytes arrive would
queue every socket's read behind the others' parsing and bill that to the server as delivery
latency. Each block is handed to the callback with the time its last byte arrived.
It is a measuring instrument, not a general client: no redirects, no TLS, no compression.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import cast

from eco2.entrypoints.cli.loadtest_sse import split_frames

_HEADER_LIMIT = 16_384
_READ_TIMEOUT_S = 60.0  # the API sends keep-alive comments far more often than this
_DEFER_BYTES = 256 * 1024  # per connection: beyond this, parse now (bounds the memory held)


class SseError(Exception):
    """The server answered with something other than a ``200`` SSE stream."""


class _Chunked:
    """Incremental decoder of HTTP/1.1 chunked transfer encoding."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.ended = False

    def feed(self, data: bytes) -> bytes:
        """Add received bytes; return the payload bytes completed by them."""
        buffer = self._buffer
        buffer += data
        out: list[bytes] = []
        while not self.ended:
            line_end = buffer.find(b"\r\n")
            if line_end < 0:
                break
            size = int(bytes(buffer[:line_end]).split(b";", 1)[0], 16)
            end = line_end + 2 + size
            if len(buffer) < end + 2:
                break
            if size == 0:
                self.ended = True
            else:
                out.append(bytes(buffer[line_end + 2 : end]))
            del buffer[: end + 2]
        return b"".join(out)


class _SseProtocol(asyncio.Protocol):
    def __init__(
        self,
        on_block: Callable[[bytes, int], None],
        on_event: Callable[[], None],
        finished: Callable[[], bool],
    ) -> None:
        self._on_block, self._on_event, self._finished = on_block, on_event, finished
        self._head = bytearray()
        self._body: _Chunked | None = None
        self._pending = b""
        self._received: list[tuple[int, bytes]] = []  # (time.time_ns() on arrival, bytes)
        self._size = 0
        self._event_seen = False
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.last_data = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        arrived = time.time_ns()
        self.last_data = time.monotonic()
        if self._body is None:
            try:
                data = self._read_head(data)
            except SseError as exc:
                self._close(exc)
                return
            if self._body is None or not data:
                return
        self._received.append((arrived, data))
        self._size += len(data)
        if not self._event_seen and b"\nid: " in data:  # an event frame, not the retry frame
            self._event_seen = True
            self._on_event()
        if self._size > _DEFER_BYTES or data.endswith(b"0\r\n\r\n"):  # the last chunk?
            self._parse()

    def _parse(self) -> None:
        """Hand every complete block received so far to the callback; close once finished."""
        received, self._received, self._size = self._received, [], 0
        body = self._body
        if body is None:
            return
        try:
            for arrived, data in received:
                payload = body.feed(data)
                if not payload:
                    continue
                blocks, self._pending = split_frames(self._pending, payload)
                for block in blocks:
                    self._on_block(block, arrived)
                    if self._finished():
                        self._close(None)
                        return
            if body.ended:
                self._close(None)
        except (SseError, ValueError) as exc:
            self._close(exc)

    def _read_head(self, data: bytes) -> bytes:
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end < 0:
            if len(self._head) > _HEADER_LIMIT:
                raise SseError("response headers too long")
            return b""
        head, rest = bytes(self._head[:end]).decode("latin-1"), bytes(self._head[end + 4 :])
        status_line, *header_lines = head.split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or parts[1] != "200":
            raise SseError(f"HTTP {parts[1] if len(parts) > 1 else status_line!r}")
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)
        }
        if headers.get("transfer-encoding", "").lower() != "chunked":
            raise SseError("expected a chunked event stream")
        self._body = _Chunked()
        return rest

    def _close(self, error: BaseException | None) -> None:
        if not self.closed.done():
            if error is None:
                self.closed.set_result(None)
            else:
                self.closed.set_exception(error)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._parse()
        if not self.closed.done():
            self.closed.set_result(None)  # the caller resumes unless the stream finished


async def follow(
    address: tuple[str, int],
    path: str,
    last_id: str | None,
    on_block: Callable[[bytes, int], None],
    on_event: Callable[[], None],
    finished: Callable[[], bool],
) -> None:
    """Stream ``GET path`` from ``address``; ``on_block`` gets each SSE event block.

    ``on_block(block, arrived_ns)`` runs when the connection ends (or a large backlog builds
    up), with the ``time.time_ns()`` at which the block's last byte arrived; ``on_event`` runs
    as soon as the first event frame arrives. Returns when the server ends the stream, the
    connection drops or ``finished()`` turns true.

    Raises:
        SseError: on a non-200 answer or a malformed stream.
        OSError: when the connection fails.
        TimeoutError: when nothing arrives for a minute.
    """
    loop = asyncio.get_running_loop()
    host, port = address
    transport, protocol = await asyncio.wait_for(
        loop.create_connection(lambda: _SseProtocol(on_block, on_event, finished), host, port), 30
    )
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n"
        + "Connection: close\r\n"
        + (f"Last-Event-ID: {last_id}\r\n" if last_id else "")
        + "\r\n"
    )
    protocol.last_data = time.monotonic()
    transport.write(request.encode())
    try:
        while True:
            idle = time.monotonic() - protocol.last_data
            if idle > _READ_TIMEOUT_S:
                raise TimeoutError("no data from the server for a minute")
            done, _ = await asyncio.wait([protocol.closed], timeout=_READ_TIMEOUT_S - idle)
            if done:
                protocol.closed.result()
                return
    finally:
        transport.close()
