"""SSE fan-out: one shared reader per job, bounded per-client buffers, no silent loss."""

from __future__ import annotations

import asyncio

import pytest

from eco2.domain.events import EventType, StreamEvent
from eco2.entrypoints.api.fanout import SlowClientError, StreamFanout
from eco2.infrastructure.memory.event_stream import InMemoryEventStream


def encode(event: StreamEvent) -> bytes:
    """A frame naming the event's seq and id, as ``seq@id;``."""
    return f"{event.seq}@{event.id};".encode()


def decode(chunk: bytes) -> list[tuple[int, str]]:
    frames = chunk.decode().split(";")
    assert frames.pop() == ""  # every chunk is whole frames
    return [(int(seq), entry_id) for seq, _, entry_id in (f.partition("@") for f in frames)]


async def test_many_clients_share_one_reader_and_see_every_event() -> None:
    stream = InMemoryEventStream()
    fanout = StreamFanout(stream, encode, block_ms=200)
    await stream.publish("j", EventType.QUEUED, {})

    async def client() -> list[int]:
        return [seq async for chunk in fanout.chunks("j") for seq, _ in decode(chunk)]

    clients = [asyncio.create_task(client()) for _ in range(50)]
    await asyncio.sleep(0.05)
    assert fanout.active_readers == 1
    for i in range(20):
        await stream.publish("j", EventType.TOKEN, {"text": str(i)})
    await stream.publish("j", EventType.DONE, {})
    results = await asyncio.gather(*clients)
    assert all(seqs == list(range(1, 23)) for seqs in results)
    assert fanout.active_readers == 0


async def test_a_slow_client_is_disconnected_then_resumes_without_loss() -> None:
    stream = InMemoryEventStream()
    fanout = StreamFanout(stream, encode, client_buffer=10, block_ms=200)
    await stream.publish("j", EventType.QUEUED, {})
    received: list[str] = []
    slow = fanout.chunks("j")
    received += [i for _, i in decode(await slow.__anext__())]  # from the catch-up read
    live = asyncio.create_task(slow.__anext__())  # catch-up done: now on the shared reader
    await asyncio.sleep(0.05)
    await stream.publish("j", EventType.TOKEN, {"text": "first live"})
    received += [i for _, i in decode(await live)]
    for i in range(40):  # far more than its buffer while it does not read
        await stream.publish("j", EventType.TOKEN, {"text": str(i)})
    await stream.publish("j", EventType.DONE, {})
    await asyncio.sleep(0.3)
    with pytest.raises(SlowClientError) as cut_off:
        async for chunk in slow:
            received += [i for _, i in decode(chunk)]
    assert cut_off.value.reason == "overflow"
    async for chunk in fanout.chunks("j", after=received[-1]):  # what a browser does
        received += [i for _, i in decode(chunk)]
    everything = [e.id for e in await stream.read("j", None, count=1000)]
    assert received == everything


async def test_a_job_joining_interrupts_the_waiting_read() -> None:
    stream = InMemoryEventStream()
    fanout = StreamFanout(stream, encode, block_ms=60_000)  # only an interrupt ends a wait
    for job in ("a", "b"):
        await stream.publish(job, EventType.QUEUED, {})

    async def client(job: str) -> list[int]:
        return [seq async for chunk in fanout.chunks(job) for seq, _ in decode(chunk)]

    first = asyncio.create_task(client("a"))
    await asyncio.sleep(0.05)  # the shared read now waits on job a alone
    second = asyncio.create_task(client("b"))
    await asyncio.sleep(0.05)
    assert fanout.active_readers == 2
    await stream.publish("b", EventType.TOKEN, {"text": "x"})
    await stream.publish("b", EventType.DONE, {})
    assert await asyncio.wait_for(second, 5) == [1, 2, 3]
    await stream.publish("a", EventType.DONE, {})
    assert await asyncio.wait_for(first, 5) == [1, 2]
    await fanout.close()


async def test_events_that_pile_up_reach_a_client_in_one_chunk() -> None:
    stream = InMemoryEventStream()
    fanout = StreamFanout(stream, encode, block_ms=200)
    await stream.publish("j", EventType.QUEUED, {})
    chunks = fanout.chunks("j")
    assert [s for s, _ in decode(await chunks.__anext__())] == [1]
    live = asyncio.create_task(chunks.__anext__())
    await asyncio.sleep(0.05)
    await stream.publish("j", EventType.TOKEN, {"text": "x"})
    assert [s for s, _ in decode(await live)] == [2]
    for i in range(5):  # the client is not reading: these queue up for it
        await stream.publish("j", EventType.TOKEN, {"text": str(i)})
    await stream.publish("j", EventType.DONE, {})
    await asyncio.sleep(0.1)
    assert [s for s, _ in decode(await chunks.__anext__())] == [3, 4, 5, 6, 7, 8]
    with pytest.raises(StopAsyncIteration):
        await chunks.__anext__()


async def test_shutdown_ends_every_waiting_client_so_it_can_resume_elsewhere() -> None:
    stream = InMemoryEventStream()
    fanout = StreamFanout(stream, encode, block_ms=60_000)
    await stream.publish("j", EventType.QUEUED, {})
    chunks = fanout.chunks("j")
    await chunks.__anext__()  # caught up; now waiting on the shared reader
    waiting = asyncio.create_task(chunks.__anext__())
    await asyncio.sleep(0.05)
    await fanout.close()
    with pytest.raises(SlowClientError) as cut_off:
        await asyncio.wait_for(waiting, 5)
    assert cut_off.value.reason == "shutdown"
    assert fanout.active_readers == 0
