"""One shared stream reader per API process, fanning job events out to its SSE clients.

A single task follows every job that has clients here with one blocking read over all their
streams (``StreamTail``), so a process serving hundreds of streams makes one read per turn, not
one per job per event; a job that gains its first client interrupts the waiting read to join it.
Each event is encoded once (``encode``, an SSE frame), and what one read brings for a job is
joined once and written by the reader itself to every client that is keeping up: a write the
socket accepts completes in the reader (``eager.start``), with no task switch per client, so a
thousand clients on one job cost one read, one encoding and one socket write per client per turn.

A client subscribes first (so it misses nothing live), catches up from its own position by
reading the stream directly (a task of its own writes that, and the reader queues what arrives
meanwhile), then drains the queue; whatever the catch-up already wrote is skipped, in the queue
and in what the reader offers later. Should the reader have started following after the point
the catch-up reached (another client's catch-up came first), the catch-up reads on to there. A
client resuming from the terminal event's id is done at once. A client whose
write has to wait (a full socket buffer) is written to by a task of its own and the reader queues
for it; the queue is bounded: a client too slow to keep up is disconnected (its queue overflows)
and resumes from its last id, so no event is ever silently lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from eco2.application.ports.events import EventStreamPort, StreamTail, TailBatch
from eco2.domain.errors import UnavailableError
from eco2.domain.events import StreamEvent, entry_key
from eco2.entrypoints.api.fanout_client import Frame, SlowClientError, Subscriber
from eco2.entrypoints.api.job_state import entry_at
from eco2.entrypoints.api.sse import Write

log = logging.getLogger(__name__)

_PAUSE_PER_JOB_S = 10e-6  # 500 followed jobs: at most one read per 5 ms while events flow


@dataclass(eq=False)
class _JobReader:
    subscribers: set[Subscriber] = field(default_factory=set)
    last_id: str | None = None  # set once a client caught up: from then on the tail follows it
    start_id: str | None = None  # where the tail started following: later entries reach queues
    ended: bool = False


class StreamFanout:
    """Shares one blocking reader among all of this process's clients of all jobs.

    Args:
        stream: The event stream.
        encode: Turns an event into the bytes a client receives (an SSE frame).
        client_buffer: Events a client may lag behind before it is disconnected.
        block_ms: How long one blocking read waits (also the longest a job joining the read
            can wait should an interruption miss).
        min_interval_s: Least time between two reads while events flow, so each read carries
            the entries of many jobs rather than of one (longer with hundreds of jobs).
    """

    def __init__(
        self,
        stream: EventStreamPort,
        encode: Callable[[StreamEvent], bytes],
        *,
        client_buffer: int = 1000,
        block_ms: int = 1000,
        min_interval_s: float = 0.002,
    ) -> None:
        self._stream = stream
        self._encode = encode
        self._buffer = client_buffer
        self._block_ms = block_ms
        self._min_interval_s = min_interval_s
        self._readers: dict[str, _JobReader] = {}
        self._task: asyncio.Task[None] | None = None
        self._tail: StreamTail | None = None
        self._changed = asyncio.Event()  # a job joined: (re)start the read with it
        self._generation = 0  # bumped when a job joins
        self._reading: int | None = None  # the generation of the read under way, if any
        self._wakers: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def active_readers(self) -> int:
        """Jobs followed for this process's clients."""
        return len(self._readers)

    async def serve(
        self,
        job_id: str,
        after: str | None,
        write: Write,
        *,
        keepalive_s: float = 15.0,
        max_s: float | None = None,
    ) -> None:
        """Write the job's encoded events after ``after`` through ``write``, to the terminal one.

        Writes carry one or more whole events, in stream order. A keep-alive comment goes out
        every ``keepalive_s`` unless a write is under way. Returns after the terminal event, or
        after ``max_s`` (the client then resumes from the last id it received).

        Raises:
            SlowClientError: when this client fell ``client_buffer`` events behind, the shared
                reader failed or the server shuts down; the client resumes from its last id.
            Exception: whatever a failed ``write`` raised.
        """
        if self._closed:
            raise SlowClientError(job_id, "shutdown")
        subscriber = Subscriber(job_id, write, self._buffer)
        reader = self._readers.get(job_id)
        if reader is None:
            reader = self._readers[job_id] = _JobReader()
        reader.subscribers.add(subscriber)
        loop = asyncio.get_running_loop()
        deadline = None if max_s is None else loop.time() + max_s
        # Catching up writes from a task of its own, so that the client being cut off meanwhile
        # (its queue overflows while its socket is full, or the server shuts down) ends it too.
        joining = asyncio.ensure_future(self._join_live(job_id, after, write, reader, subscriber))
        try:
            either: set[asyncio.Future[Any]] = {joining, subscriber.ended}
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            if not joining.done():
                joining.cancel()
                await asyncio.wait({joining})
            elif joining.result():
                return  # the catch-up wrote the terminal event
            while not subscriber.ended.done():
                wait = keepalive_s if deadline is None else min(keepalive_s, deadline - loop.time())
                if wait <= 0:
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(subscriber.ended), wait)
                    break
                subscriber.ping()
                if not await self._still_there(job_id):
                    return  # expired without a terminal event: a reconnect gets 404
            subscriber.ended.result()  # raises what cut the client off
        finally:
            if not joining.done():  # this task was cancelled: the client went away
                joining.cancel()
                await asyncio.wait({joining})
            reader.subscribers.discard(subscriber)
            if not reader.subscribers and self._readers.get(job_id) is reader:
                del self._readers[job_id]
            subscriber.close()

    async def _join_live(
        self, job_id: str, after: str | None, write: Write, reader: _JobReader, sub: Subscriber
    ) -> bool:
        """Catch the client up, see that the shared reader follows from where that ended, then
        write what the reader queued meanwhile; whether the catch-up reached the terminal event.
        """
        position = after
        reread = False  # a read made once ``start_id`` was known
        while True:
            ended, reached = await self._catch_up(job_id, position, write)
            if ended:
                return True
            if reached is not None:
                sub.seen = entry_key(reached)
            if reader.last_id is None and not reader.ended:
                reader.last_id = reader.start_id = reached or "0-0"
                self._join()
                break
            # The reader follows from ``start_id``, which another client's catch-up set. Had
            # this catch-up's last read been answered before the entries up to there were
            # appended, they are in no queue: read on (what overlaps the queue is skipped).
            start = reader.start_id
            behind = start is not None and entry_key(reached or "0-0") < entry_key(start)
            # Caught up; or a read made after ``start_id`` was set still found nothing new, so
            # the stream lost them (trimmed). A first read that found nothing proves nothing:
            # it may have been answered before the entries up to ``start_id`` were appended.
            if not behind or (reread and reached == position):
                break
            reread = True
            position = reached
        await sub.drain()
        return False

    async def _catch_up(
        self, job_id: str, after: str | None, write: Write
    ) -> tuple[bool, str | None]:
        """Write the stream from ``after`` as it stands: whether that reached its terminal
        event (or ``after`` was it), and the last entry written (``after`` if none)."""
        position = after
        while True:
            batch = await self._stream.read(job_id, position, count=500)
            if not batch:
                if position is not None and position == after:  # nothing new: ended there?
                    return await self._is_terminal(job_id, position), position
                return False, position
            position = batch[-1].id
            ended = next((k for k, e in enumerate(batch) if e.type.terminal), None)
            if ended is not None:
                await write(b"".join(self._encode(e) for e in batch[: ended + 1]))
                return True, position
            await write(b"".join(self._encode(e) for e in batch))

    async def _still_there(self, job_id: str) -> bool:
        """Whether the job's stream still exists (one that never got its terminal event expires
        a day after its first; its clients would otherwise get keep-alives for ever)."""
        try:
            return await self._stream.exists(job_id)
        except UnavailableError:  # an outage: the shared reader's failure ends the clients
            return True

    async def _is_terminal(self, job_id: str, entry_id: str) -> bool:
        """Whether ``entry_id`` is the job's terminal event (a client resuming from it is done)."""
        entry = await entry_at(self._stream, job_id, entry_id)
        return entry is not None and entry.type.terminal

    def _join(self) -> None:
        """A job starts being followed: start the reader, or make its waiting read restart."""
        if self._closed:
            return
        self._generation += 1
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="sse-fanout-reader")
        self._changed.set()
        if self._reading is not None:
            waker = asyncio.create_task(self._interrupt(self._generation))
            self._wakers.add(waker)
            waker.add_done_callback(self._wakers.discard)

    async def _interrupt(self, generation: int) -> None:
        # The waiting read may not have reached the server yet: retry briefly until it did.
        for _ in range(10):
            reading, tail = self._reading, self._tail
            if reading is None or reading >= generation or tail is None:
                return
            if await tail.interrupt():
                return
            await asyncio.sleep(0.002)

    async def _run(self) -> None:
        tail = self._tail = self._stream.tail()
        loop = asyncio.get_running_loop()
        try:
            while True:
                positions = {
                    job_id: reader.last_id
                    for job_id, reader in self._readers.items()
                    if reader.last_id is not None and not reader.ended
                }
                if not positions:
                    self._changed.clear()
                    await self._changed.wait()
                    continue
                started = loop.time()
                self._reading = self._generation
                try:
                    found = await tail.read(positions, block_ms=self._block_ms)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("stream_reader_failed", extra={"jobs": len(positions)})
                    self._fail(positions)
                    await asyncio.sleep(0.5)
                    continue
                finally:
                    self._reading = None
                for job_id, batch in found.items():
                    self._dispatch(job_id, batch)
                if found:  # events flow: let more gather before the next read, the longer
                    # the more streams one read names (each costs the read a key and an id)
                    pause = max(self._min_interval_s, _PAUSE_PER_JOB_S * len(positions))
                    await asyncio.sleep(max(0.0, pause - (loop.time() - started)))
        finally:
            self._tail = None
            await tail.close()

    def _dispatch(self, job_id: str, batch: TailBatch) -> None:
        reader = self._readers.get(job_id)
        if reader is None or reader.ended:
            return
        reader.last_id = batch.last_id
        new = [Frame(entry_key(e.id), self._encode(e), e.type.terminal) for e in batch.events]
        if not new:
            return
        reader.ended = any(frame.terminal for frame in new)
        data = b"".join(frame.data for frame in new)
        for subscriber in list(reader.subscribers):  # a write may end a client's response
            subscriber.offer(new, data)

    def _fail(self, jobs: Mapping[str, str]) -> None:
        """The read failed: every client of those jobs reconnects and resumes by id."""
        for job_id in jobs:
            reader = self._readers.pop(job_id, None)
            for subscriber in reader.subscribers if reader else ():
                subscriber.end("reader_failed")

    async def close(self) -> None:
        """Stop the reader; every client still here (or arriving) ends with
        :class:`SlowClientError` (``shutdown``) and resumes elsewhere."""
        self._closed = True
        readers, self._readers = list(self._readers.values()), {}
        for reader in readers:
            for subscriber in reader.subscribers:
                subscriber.end("shutdown")
        task, self._task = self._task, None
        for pending in [task, *self._wakers]:
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pending
