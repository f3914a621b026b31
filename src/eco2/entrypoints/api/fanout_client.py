"""One SSE client of the fan-out: its frames are written at once, or queued while it lags.

The reader offers each client the frames one read brought; a client that is keeping up gets
them written right away in the reader (``eager.start``), a client that is catching up or whose
last write is still waiting for its socket gets them queued, up to a bound past which it is cut
off (it resumes by id). See ``fanout`` for the whole picture.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass

from eco2.entrypoints.api import eager
from eco2.entrypoints.api.sse import Write

log = logging.getLogger(__name__)

_KEEPALIVE = b": ping\n\n"  # an SSE comment: keeps proxies from closing an idle stream


class SlowClientError(Exception):
    """The client must resume by id: its buffer overflowed, the reader failed or the server
    is shutting down (``reason``: ``overflow``, ``reader_failed``, ``shutdown``)."""

    def __init__(self, job_id: str, reason: str) -> None:
        super().__init__(f"{job_id}: {reason}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Frame:
    """One encoded event: its entry key (for order and skipping), bytes, and whether it ends."""

    key: tuple[int, int]
    data: bytes
    terminal: bool


class Subscriber:
    """One client of one job: writes frames to it, or queues them while a write is under way."""

    def __init__(self, job_id: str, write: Write, buffer: int) -> None:
        self._job_id, self._write, self._buffer = job_id, write, buffer
        self.frames: deque[Frame] = deque()
        self.seen: tuple[int, int] = (-1, -1)  # the last entry written to the client
        self.busy = True  # catching up or writing: the reader queues instead of writing
        self.ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task: asyncio.Task[None] | None = None

    def offer(self, new: list[Frame], data: bytes) -> None:
        """The reader's new frames (``data``: all of them, joined): write or queue them."""
        if self.ended.done():
            return
        if self.busy:
            if len(self.frames) + len(new) > self._buffer:
                log.warning("sse_client_overflow", extra={"job_id": self._job_id})
                self.end("overflow")  # it resumes from the last frame it was sent
            else:
                self.frames.extend(new)
            return
        if new[0].key <= self.seen:  # its catch-up read got ahead of the shared reader
            new = [frame for frame in new if frame.key > self.seen]
            if not new:
                return
            data = b"".join(frame.data for frame in new)
        self.seen = new[-1].key
        self._send(data, terminal=new[-1].terminal)

    def ping(self) -> None:
        """Send a keep-alive comment, unless a write is under way anyway."""
        if not self.busy and not self.ended.done():
            self._send(_KEEPALIVE, terminal=False)

    def _send(self, data: bytes, *, terminal: bool) -> None:
        try:
            self._task = eager.start(self._write(data))
        except Exception as exc:
            self.fail(exc)
            return
        if self._task is not None:  # the socket is full: finish, then drain, in a task
            self.busy = True
            self._task.add_done_callback(lambda task: self._written(task, terminal))
        elif terminal:
            self.ended.set_result(None)

    def _written(self, task: asyncio.Task[None], terminal: bool) -> None:
        self._task = None
        if task.cancelled() or self.ended.done():
            return
        if (exc := task.exception()) is not None:
            self.fail(exc)
        elif terminal:
            self.ended.set_result(None)
        else:
            self._task = asyncio.get_running_loop().create_task(self.drain())

    async def drain(self) -> None:
        """Write what was queued (skipping entries already written), then let the reader write.

        A failed write ends the client with that error (``ended``).
        """
        try:
            while self.frames and not self.ended.done():
                parts: list[bytes] = []
                terminal = False
                while self.frames and not terminal:
                    frame = self.frames.popleft()
                    if frame.key > self.seen:  # else the catch-up read delivered it already
                        self.seen, terminal = frame.key, frame.terminal
                        parts.append(frame.data)
                if parts:
                    await self._write(b"".join(parts))
                if terminal and not self.ended.done():
                    self.ended.set_result(None)
            self.busy = False
        except Exception as exc:
            self.fail(exc)

    def end(self, reason: str) -> None:
        """Cut the client off; it resumes by id (``reason`` as in :class:`SlowClientError`)."""
        self.fail(SlowClientError(self._job_id, reason))

    def fail(self, exc: BaseException) -> None:
        """End the client with ``exc`` (the first ending wins)."""
        if not self.ended.done():
            self.ended.set_exception(exc)

    def close(self) -> None:
        """Stop a write under way (it waits for the socket, so it has written nothing yet) and
        end the client, so that a write that finished meanwhile does not start a drain."""
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        if not self.ended.done():
            self.ended.cancel()
        elif not self.ended.cancelled():
            self.ended.exception()  # retrieved: no "never retrieved" warning
