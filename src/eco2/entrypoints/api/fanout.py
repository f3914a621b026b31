"""One shared stream reader per job per API process, fanning events out to its SSE clients.

A client subscribes first (so it misses nothing live), catches up from its own position by
reading the stream directly, then drains its live queue, skipping what the catch-up already
delivered. Each client has a bounded queue: a client too slow to keep up is disconnected (its
queue overflows) and resumes from its last id, so no event is ever silently lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from eco2.application.ports.events import EventStreamPort
from eco2.domain.events import StreamEvent, entry_key

log = logging.getLogger(__name__)


class SlowClientError(Exception):
    """The client's buffer overflowed; it must reconnect with its last id."""


@dataclass(eq=False)
class _Subscriber:
    queue: asyncio.Queue[StreamEvent]
    overflowed: bool = False


@dataclass(eq=False)
class _JobReader:
    task: asyncio.Task[None] | None = None
    subscribers: set[_Subscriber] = field(default_factory=set)
    last_id: str | None = None


class StreamFanout:
    """Shares one blocking reader per job among all of this process's clients.

    Args:
        stream: The event stream.
        client_buffer: Events a client may lag behind before it is disconnected.
        block_ms: How long one blocking read waits.
    """

    def __init__(
        self, stream: EventStreamPort, *, client_buffer: int = 1000, block_ms: int = 5000
    ) -> None:
        self._stream = stream
        self._buffer = client_buffer
        self._block_ms = block_ms
        self._readers: dict[str, _JobReader] = {}

    @property
    def active_readers(self) -> int:
        """Jobs with a running shared reader."""
        return len(self._readers)

    async def events(self, job_id: str, after: str | None = None) -> AsyncIterator[StreamEvent]:
        """Yield the job's events after ``after`` until the terminal one.

        Raises:
            SlowClientError: when this client fell ``client_buffer`` events behind.
        """
        subscriber = _Subscriber(asyncio.Queue(self._buffer))
        reader = self._readers.get(job_id)
        if reader is None:
            reader = self._readers[job_id] = _JobReader()
        reader.subscribers.add(subscriber)
        try:
            position = after
            while True:  # catch up from the client's own position
                batch = await self._stream.read(job_id, position, count=500)
                if not batch:
                    break
                for event in batch:
                    position = event.id
                    yield event
                    if event.type.terminal:
                        return
            if reader.task is None:
                reader.last_id = position
                reader.task = asyncio.create_task(self._read(job_id, reader))
            seen = entry_key(position) if position else (-1, -1)
            while True:
                if subscriber.overflowed and subscriber.queue.empty():
                    raise SlowClientError(job_id)
                try:
                    event = await asyncio.wait_for(subscriber.queue.get(), timeout=1.0)
                except TimeoutError:
                    continue  # re-check the overflow flag (the shared reader may have failed)
                if entry_key(event.id) <= seen:
                    continue
                seen = entry_key(event.id)
                yield event
                if event.type.terminal:
                    return
        finally:
            reader.subscribers.discard(subscriber)
            if not reader.subscribers:
                self._readers.pop(job_id, None)
                if reader.task is not None:
                    reader.task.cancel()

    async def _read(self, job_id: str, reader: _JobReader) -> None:
        try:
            while reader.subscribers:
                batch = await self._stream.read(job_id, reader.last_id, block_ms=self._block_ms)
                for event in batch:
                    reader.last_id = event.id
                    for subscriber in list(reader.subscribers):
                        if subscriber.overflowed:
                            continue
                        try:
                            subscriber.queue.put_nowait(event)
                        except asyncio.QueueFull:
                            subscriber.overflowed = True
                            log.warning("sse_client_overflow", extra={"job_id": job_id})
                    if event.type.terminal:
                        return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("stream_reader_failed", extra={"job_id": job_id})
            for subscriber in reader.subscribers:
                subscriber.overflowed = True  # makes each client reconnect and resume

    async def close(self) -> None:
        """Stop every shared reader."""
        readers, self._readers = list(self._readers.values()), {}
        for reader in readers:
            if reader.task is not None:
                reader.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader.task
