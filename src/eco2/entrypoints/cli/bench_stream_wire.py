"""A minimal HTTP/1.1 SSE client on an asyncio protocol, for ``eco2 bench stream``'s clients.

It sends one ``GET`` (with ``Last-Event-ID`` when resuming), checks for ``200``, undoes chunked
transfer encoding as bytes arrive and hands every complete SSE event block to a callback — work
done inside ``data_received``, with no task switch and no per-chunk allocation beyond the block.
It is a measuring instrument, not a general client: no redirects, no TLS, no compression.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

from eco2.entrypoints.cli.loadtest_sse import split_frames

_HEADER_LIMIT = 16_384
_READ_TIMEOUT_S = 60.0  # the API sends keep-alive comments far more often than this


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
    def __init__(self, on_block: Callable[[bytes], None], finished: Callable[[], bool]) -> None:
        self._on_block, self._finished = on_block, finished
        self._head = bytearray()
        self._body: _Chunked | None = None
        self._pending = b""
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.last_data = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.last_data = asyncio.get_running_loop().time()
        try:
            if self._body is None:
                data = self._read_head(data)
                if self._body is None:
                    return
            payload = self._body.feed(data)
            if payload:
                blocks, self._pending = split_frames(self._pending, payload)
                for block in blocks:
                    self._on_block(block)
                    if self._finished():
                        self._close(None)
                        return
            if self._body.ended:
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
        if not self.closed.done():
            self.closed.set_result(None)  # the caller resumes unless the stream finished


async def follow(
    address: tuple[str, int],
    path: str,
    last_id: str | None,
    on_block: Callable[[bytes], None],
    finished: Callable[[], bool],
) -> None:
    """Stream ``GET path`` from ``address``, calling ``on_block`` with each SSE event block.

    Returns when the server ends the stream, the connection drops or ``finished()`` turns true.

    Raises:
        SseError: on a non-200 answer or a malformed stream.
        OSError: when the connection fails.
        TimeoutError: when nothing arrives for a minute.
    """
    loop = asyncio.get_running_loop()
    host, port = address
    transport, protocol = await asyncio.wait_for(
        loop.create_connection(lambda: _SseProtocol(on_block, finished), host, port), 30
    )
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n"
        + (f"Last-Event-ID: {last_id}\r\n" if last_id else "")
        + "\r\n"
    )
    protocol.last_data = loop.time()
    transport.write(request.encode())
    try:
        while True:
            idle = loop.time() - protocol.last_data
            if idle > _READ_TIMEOUT_S:
                raise TimeoutError("no data from the server for a minute")
            done, _ = await asyncio.wait([protocol.closed], timeout=_READ_TIMEOUT_S - idle)
            if done:
                protocol.closed.result()
                return
    finally:
        transport.close()
