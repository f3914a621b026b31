"""SSE fan-out: one shared reader per process, bounded per-client queues, no silent loss."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from eco2.domain.events import EventType, StreamEvent
from eco2.entrypoints.api import eager
from eco2.entrypoints.api.fanout import StreamFanout
from eco2.entrypoints.api.fanout_client import SlowClientError
from eco2.infrastructure.memory.event_stream import InMemoryEventStream


def encode(event: StreamEvent) -> bytes:
    """A frame naming the event's seq and id, as ``seq@id;``."""
    return f"{event.seq}@{event.id};".encode()


def decode(chunk: bytes) -> list[tuple[int, str]]:
    frames = chunk.decode().split(";")
    assert frames.pop() == ""  # every write is whole frames
    return [(int(seq), entry_id) for seq, _, entry_id in (f.partition("@") for f in frames)]


class Client:
    """Records what the fan-out writes; ``hold()`` makes its writes wait, like a full socket."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.writers: list[str] = []  # the task each write ran in
        self._open = asyncio.Event()
        self._open.set()

    async def write(self, data: bytes) -> None:
        if not self._open.is_set():
            await self._open.wait()
        task = asyncio.current_task()
        self.writers.append(task.get_name() if task else "")
        self.chunks.append(data)

    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    @property
    def seqs(self) -> list[int]:
        return [seq for chunk in self.chunks for seq, _ in decode(chunk)]

    @property
    def ids(self) -> list[str]:
        return [entry_id for chunk in self.chunks for _, entry_id in decode(chunk)]


async def test_many_clients_share_one_reader_that_writes_to_them_itself() -> None:
    stream = InMemoryEventStream()
    fanout = StreamFanout(stream, encode, block_ms=200)
    await stream.publish("j", EventType.QUEUED, {})
    clients = [Client() for _ in range(50)]
    serving = [asyncio.create_task(fanout.serve("j", None, c.write)) for c in clients]
    await asyncio.sleep(0.05)
    assert fanout.active_readers == 1
    for i in range(20):
        await stream.publish("j", EventType.TOKEN, {"text": str(i)})
    await stream.publish("j", EventType.DONE, {})
    await asyncio.wait_for(asyncio.gather(*serving), 5)
    assert all(c.seqs == list(range(1, 23)) for c in clients)
    assert fanout.active_readers == 0
    # Live events were written by the shared reader, not by a task per client.
    assert all("sse-fanout-reader" in c.writers[1:] for c in clients)
    assert {w for c in clients for w in c.writers[1:]} == {"sse-fanout-reader"}


async def test_a_client_whose_writes_wait_gets_the_backlog_in_one_write() -> None:
    stream = InMemoryEventStream()
    fanout = StreamFanout(stream, encode, block_ms=200)
    await stream.publish("j", EventType.QUEUED, {})
    slow, fast = Client(), Client()
    serving = [asyncio.create_task(fanout.serve("j", None, c.write)) for c in (slow, fast)]
    await asyncio.sleep(0.05)
    slow.hold()
    await stream.publish("j", EventType.TOKEN, {"text": "x"})  # this write waits
    await asyncio.sleep(0.05)
    for i in range(5):  # queued for the slow client; the fast one is written as they come
        await stream.publish("j", EventType.TOKEN, {"text": str(i)})
        await asyncio.sleep(0.01)
    await stream.publish("j", EventType.DONE, {})
    await asyncio.sleep(0.05)
    assert fast.seqs == list(range(1, 9)) and serving[1].done()
    assert slow.seqs == [1] and not serving[0].done()
    slow.release()
    await asyncio.wait_for(serving[0], 5)
    assert [[s for s, _ in decode(c)] for c in slow.chunks] == [[1], [2], [3, 4, 5, 6, 7, 8]]


async def test_a_slow_client_is_cut_off_then_resumes_without_loss_or_repeat() -> None:
    stream = InMemoryEventStream()
    fanout = StreamFanout(stream, encode, client_buffer=10, block_ms=200)
    await stream.publish("j", EventType.QUEUED, {})
    slow = Client()
    serving = asyncio.create_task(fanout.serve("j", None, slow.write))
    await asyncio.sleep(0.05)
    await stream.publish("j", EventType.TOKEN, {"text": "first live"})
    await asyncio.sleep(0.05)
    slow.hold()
    await stream.publish("j", EventType.TOKEN, {"text": "held"})  # this write waits
    await asyncio.sleep(0.05)
    for i in range(40):  # far more than its queue while its write waits
        await stream.publish("j", EventType.TOKEN, {"text": str(i)})
    await stream.publish("j", EventType.DONE, {})
    with pytest.raises(SlowClientError) as cut_off:
        await asyncio.wait_for(serving, 5)
    assert cut_off.value.reason == "overflow"
    slow.release()
    received = slow.ids  # the waiting write was stopped before it wrote anything
    resumed = Client()
    await fanout.serve("j", received[-1], resumed.write)  # what a browser does
    everything = [e.id for e in await stream.read("j", None, count=1000)]
    assert received + resumed.ids == everything


async def test_a_job_joining_interrupts_the_waiting_read() -> None:
    stream = InMemoryEventStream()
    fanout = StreamFanout(stream, encode, block_ms=60_000)  # only an interrupt ends a wait
    for job in ("a", "b"):
        await stream.publish(job, EventType.QUEUED, {})
    a, b = Client(), Client()
    first = asyncio.create_task(fanout.serve("a", None, a.write))
    await asyncio.sleep(0.05)  # the shared read now waits on job a alone
    second = asyncio.create_task(fanout.serve("b", None, b.write))
    await asyncio.sleep(0.05)
    assert fanout.active_readers == 2
    await stream.publish("b", EventType.TOKEN, {"text": "x"})
    await stream.publish("b", EventType.DONE, {})
    await asyncio.wait_for(second, 5)
    assert b.seqs == [1, 2, 3]
    await stream.publish("a", EventType.DONE, {})
    await asyncio.wait_for(first, 5)
    assert a.seqs == [1, 2]
    await fanout.close()


async def test_keepalive_comments_and_recycling_after_max_s() -> None:
    stream = InMemoryEventStream()
    fanout = StreamFanout(stream, encode, block_ms=200)
    await stream.publish("j", EventType.QUEUED, {})
    quiet = Client()
    await asyncio.wait_for(fanout.serve("j", None, quiet.write, keepalive_s=0.05, max_s=0.3), 5)
    assert decode(quiet.chunks[0])[0][0] == 1
    pings = [c for c in quiet.chunks[1:] if c == b": ping\n\n"]
    assert len(pings) >= 3 and len(pings) == len(quiet.chunks) - 1  # nothing else came
    assert fanout.active_readers == 0
    await fanout.close()


async def test_a_failing_write_ends_that_client_only() -> None:
    stream = InMemoryEventStream()
    fanout = StreamFanout(stream, encode, block_ms=200)
    await stream.publish("j", EventType.QUEUED, {})
    calls = 0

    async def broken(data: bytes) -> None:
        nonlocal calls
        calls += 1
        if calls > 1:  # the catch-up write works, the first live one does not
            raise ConnectionResetError("gone")

    good = Client()
    failing = asyncio.create_task(fanout.serve("j", None, broken))
    serving = asyncio.create_task(fanout.serve("j", None, good.write))
    await asyncio.sleep(0.05)
    await stream.publish("j", EventType.TOKEN, {"text": "x"})
    await stream.publish("j", EventType.DONE, {})
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(failing, 5)
    await asyncio.wait_for(serving, 5)
    assert good.seqs == [1, 2, 3]


async def test_shutdown_ends_every_client_so_it_can_resume_elsewhere() -> None:
    stream = InMemoryEventStream()
    fanout = StreamFanout(stream, encode, block_ms=60_000)
    await stream.publish("j", EventType.QUEUED, {})
    waiting = asyncio.create_task(fanout.serve("j", None, Client().write))
    await asyncio.sleep(0.05)
    await fanout.close()
    with pytest.raises(SlowClientError) as cut_off:
        await asyncio.wait_for(waiting, 5)
    assert cut_off.value.reason == "shutdown"
    assert fanout.active_readers == 0
    with pytest.raises(SlowClientError):  # a client arriving now goes elsewhere at once
        await fanout.serve("j", None, Client().write)


class _LateReplies:
    """The in-memory stream, but chosen reads are answered late: served at once, their reply
    delivered ``lag_s`` later (a Redis reply still on its way while the stream grows)."""

    def __init__(self, inner: InMemoryEventStream, late_calls: set[int], lag_s: float) -> None:
        self.inner, self._late, self._lag, self.calls = inner, late_calls, lag_s, 0

    async def read(self, job_id: str, after: str | None = None, *, count: int = 500) -> Any:
        self.calls += 1
        snapshot = await self.inner.read(job_id, after, count=count)
        if self.calls in self._late:
            await asyncio.sleep(self._lag)
        return snapshot

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_a_client_joining_while_events_flow_gets_each_event_once() -> None:
    stream = InMemoryEventStream()
    # A long pause between the shared reader's reads widens the window; any pause has one.
    fanout = StreamFanout(stream, encode, block_ms=200, min_interval_s=0.2)
    await stream.publish("j", EventType.QUEUED, {})
    live = Client()
    serving = [asyncio.create_task(fanout.serve("j", None, live.write))]
    await asyncio.sleep(0.05)
    await stream.publish("j", EventType.TOKEN, {"text": "x"})  # read, then the reader pauses
    await asyncio.sleep(0.01)
    await stream.publish("j", EventType.TOKEN, {"text": "y"})  # during the pause
    joining = Client()  # its catch-up reads past what the shared reader has read
    serving.append(asyncio.create_task(fanout.serve("j", None, joining.write)))
    await asyncio.sleep(0.3)
    await stream.publish("j", EventType.DONE, {})
    await asyncio.wait_for(asyncio.gather(*serving), 5)
    assert live.seqs == joining.seqs == [1, 2, 3, 4]


async def test_clients_joining_a_fast_stream_each_get_every_event_once() -> None:
    stream = InMemoryEventStream()
    fanout = StreamFanout(stream, encode)
    await stream.publish("j", EventType.QUEUED, {})

    async def produce() -> None:
        for i in range(200):
            await stream.publish("j", EventType.TOKEN, {"text": str(i)})
            await asyncio.sleep(0.001)
        await stream.publish("j", EventType.DONE, {})

    producing = asyncio.create_task(produce())
    clients, serving = [], []
    for _ in range(20):  # one arriving every ~11 ms while tokens flow
        clients.append(Client())
        serving.append(asyncio.create_task(fanout.serve("j", None, clients[-1].write)))
        await asyncio.sleep(0.011)
    await producing
    await asyncio.wait_for(asyncio.gather(*serving), 10)
    assert all(c.seqs == list(range(1, 203)) for c in clients)


async def test_a_catch_up_answered_late_still_gets_what_precedes_the_readers_start() -> None:
    inner = InMemoryEventStream()
    stream = _LateReplies(inner, late_calls={2}, lag_s=0.05)  # the first client's second read
    fanout = StreamFanout(stream, encode, block_ms=200)
    await inner.publish("j", EventType.QUEUED, {})
    early, later = Client(), Client()
    serving = [asyncio.create_task(fanout.serve("j", None, early.write))]
    await asyncio.sleep(0.02)  # its (empty) second read is served; the reply is on its way
    await inner.publish("j", EventType.TOKEN, {"text": "x"})
    await inner.publish("j", EventType.TOKEN, {"text": "y"})
    # The later client catches up to 3 first, so the shared reader starts after 3.
    serving.append(asyncio.create_task(fanout.serve("j", None, later.write)))
    await asyncio.sleep(0.2)
    await inner.publish("j", EventType.DONE, {})
    await asyncio.wait_for(asyncio.gather(*serving), 5)
    assert early.seqs == later.seqs == [1, 2, 3, 4]


async def test_a_resume_whose_empty_catch_up_was_answered_late_still_gets_what_followed() -> None:
    """Clients reconnecting together: one resumes from the newest entry, its read (nothing new
    yet) answered late; meanwhile entries arrive and another client's catch-up starts the
    shared reader after them. The resumed client must read them, not take "nothing new" as
    the stream having lost them."""
    inner = InMemoryEventStream()
    stream = _LateReplies(inner, late_calls={1}, lag_s=0.05)
    fanout = StreamFanout(stream, encode, block_ms=200)
    await inner.publish("j", EventType.QUEUED, {})
    newest = await inner.publish("j", EventType.TOKEN, {"text": "a"})
    resumed, fresh = Client(), Client()
    serving = [asyncio.create_task(fanout.serve("j", newest.id, resumed.write))]
    await asyncio.sleep(0.01)  # its read found nothing after 2; the reply is on its way
    await inner.publish("j", EventType.TOKEN, {"text": "b"})
    await inner.publish("j", EventType.TOKEN, {"text": "c"})
    serving.append(asyncio.create_task(fanout.serve("j", None, fresh.write)))
    await asyncio.sleep(0.2)
    await inner.publish("j", EventType.DONE, {})
    await asyncio.wait_for(asyncio.gather(*serving), 5)
    assert fresh.seqs == [1, 2, 3, 4, 5]
    assert resumed.seqs == [3, 4, 5]


async def test_a_stream_expiring_without_its_terminal_event_ends_its_clients() -> None:
    """A job that never got a terminal event: its stream expires (a day after its first event);
    its clients are let go, instead of getting keep-alives for ever."""
    now = [0.0]
    stream = InMemoryEventStream(ttl_after_terminal_s=1, max_age_s=2, clock=lambda: now[0])
    fanout = StreamFanout(stream, encode, block_ms=50)
    await stream.publish("j", EventType.QUEUED, {})
    client = Client()
    serving = asyncio.create_task(fanout.serve("j", None, client.write, keepalive_s=0.05))
    await asyncio.sleep(0.2)
    assert not serving.done()  # alive and waiting
    now[0] = 10.0  # past its expiry
    await asyncio.wait_for(serving, 5)
    events = [c for c in client.chunks if not c.startswith(b":")]  # keep-alive comments aside
    assert [seq for chunk in events for seq, _ in decode(chunk)] == [1]
    await fanout.close()


async def test_a_client_stuck_in_its_catch_up_is_cut_off_by_overflow_and_by_shutdown() -> None:
    stream = InMemoryEventStream()
    fanout = StreamFanout(stream, encode, client_buffer=5, block_ms=200)
    for i in range(3):
        await stream.publish("j", EventType.TOKEN, {"text": str(i)})
    stuck, live = Client(), Client()
    stuck.hold()  # it stopped reading: its catch-up write waits on a full socket
    cut_off = asyncio.create_task(fanout.serve("j", None, stuck.write))
    await asyncio.sleep(0.05)
    following = asyncio.create_task(fanout.serve("j", None, live.write))
    await asyncio.sleep(0.05)
    for i in range(20):  # past the stuck client's queue
        await stream.publish("j", EventType.TOKEN, {"text": str(i)})
    with pytest.raises(SlowClientError) as overflow:
        await asyncio.wait_for(cut_off, 5)
    assert overflow.value.reason == "overflow" and stuck.chunks == []
    stuck_again = asyncio.create_task(fanout.serve("j", None, stuck.write))
    await asyncio.sleep(0.05)
    await fanout.close()  # the server shuts down: neither holds it up
    with pytest.raises(SlowClientError) as shutdown:
        await asyncio.wait_for(stuck_again, 5)
    assert shutdown.value.reason == "shutdown"
    with pytest.raises(SlowClientError):
        await asyncio.wait_for(following, 5)
    assert fanout.active_readers == 0


async def test_resuming_from_the_terminal_event_ends_at_once() -> None:
    stream = InMemoryEventStream()
    fanout = StreamFanout(stream, encode, block_ms=200)
    await stream.publish("j", EventType.QUEUED, {})
    token = await stream.publish("j", EventType.TOKEN, {"text": "x"})
    done = await stream.publish("j", EventType.DONE, {})
    resumed = Client()
    await asyncio.wait_for(fanout.serve("j", done.id, resumed.write, keepalive_s=0.05), 1)
    assert resumed.chunks == [] and fanout.active_readers == 0
    # From the entry before it, the terminal event is still delivered.
    await asyncio.wait_for(fanout.serve("j", token.id, resumed.write), 1)
    assert resumed.seqs == [3]


async def test_resuming_from_the_terminal_event_by_its_milliseconds_alone_ends_at_once() -> None:
    stream = InMemoryEventStream()
    fanout = StreamFanout(stream, encode, block_ms=200)
    await stream.publish("j", EventType.QUEUED, {})
    await asyncio.sleep(0.002)  # the next entry opens a new millisecond: "<ms>-0"
    done = await stream.publish("j", EventType.DONE, {})
    ms, _, n = done.id.partition("-")
    assert n == "0"
    resumed = Client()
    await asyncio.wait_for(fanout.serve("j", ms, resumed.write, keepalive_s=0.05), 1)
    assert resumed.chunks == []


async def test_resuming_from_the_last_entry_of_a_live_stream_keeps_following() -> None:
    stream = InMemoryEventStream()
    fanout = StreamFanout(stream, encode, block_ms=200)
    await stream.publish("j", EventType.QUEUED, {})
    last = await stream.publish("j", EventType.TOKEN, {"text": "x"})
    resumed = Client()
    serving = asyncio.create_task(fanout.serve("j", last.id, resumed.write))
    await asyncio.sleep(0.05)
    assert not serving.done()
    await stream.publish("j", EventType.DONE, {})
    await asyncio.wait_for(serving, 5)
    assert resumed.seqs == [3]


async def _written_after_leaving(yields: int) -> list[bytes]:
    """What a client is written after its ``serve()`` ended, when its waiting write completes
    ``yields`` loop turns after the client went away."""
    stream = InMemoryEventStream()
    fanout = StreamFanout(stream, encode, block_ms=200)
    await stream.publish("j", EventType.QUEUED, {})
    client, late = Client(), []
    left = False

    async def write(data: bytes) -> None:
        await client.write(data)
        if left:
            late.append(data)

    serving = asyncio.create_task(fanout.serve("j", None, write))
    await asyncio.sleep(0.05)
    client.hold()
    await stream.publish("j", EventType.TOKEN, {"text": "held"})  # this write waits
    await asyncio.sleep(0.05)
    await stream.publish("j", EventType.TOKEN, {"text": "queued"})  # queued behind it
    await asyncio.sleep(0.05)
    serving.cancel()  # the client goes away ...
    for _ in range(yields):
        await asyncio.sleep(0)
    client.release()  # ... as its socket drains
    with pytest.raises(asyncio.CancelledError):
        await serving
    left = True
    await asyncio.sleep(0.05)
    await fanout.close()
    return late


@pytest.mark.parametrize("yields", range(4))
async def test_a_write_finishing_as_the_client_leaves_writes_nothing_after_it(yields: int) -> None:
    assert await _written_after_leaving(yields) == []


async def test_a_client_whose_catch_up_outlasts_shutdown_does_not_restart_the_reader() -> None:
    inner = InMemoryEventStream()
    stream = _LateReplies(inner, late_calls={1}, lag_s=0.05)
    fanout = StreamFanout(stream, encode, block_ms=200)
    await inner.publish("j", EventType.QUEUED, {})
    serving = asyncio.create_task(fanout.serve("j", None, Client().write))
    await asyncio.sleep(0.01)  # its catch-up read is on its way
    await fanout.close()
    with pytest.raises(SlowClientError):
        await asyncio.wait_for(serving, 5)
    await asyncio.sleep(0.1)
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "sse-fanout-reader"]


async def test_eager_start_finishes_in_the_caller_unless_it_must_wait() -> None:
    log: list[str] = []

    async def quick() -> None:
        log.append("quick")

    assert eager.start(quick()) is None and log == ["quick"]

    gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def waits() -> None:
        log.append(await gate)

    task = eager.start(waits())
    assert task is not None and not task.done()
    gate.set_result("waited")
    await asyncio.wait_for(task, 5)
    assert log[-1] == "waited"

    async def fails() -> None:
        raise ValueError("before any wait")

    with pytest.raises(ValueError, match="before any wait"):
        eager.start(fails())


async def test_cancelling_an_eagerly_started_wait_reaches_the_coroutine() -> None:
    cleaned = asyncio.Event()

    async def waits_forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.set()

    task = eager.start(waits_forever())
    assert task is not None
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned.is_set()
