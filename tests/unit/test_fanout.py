"""SSE fan-out: one shared reader per job, bounded per-client buffers, no silent loss."""

from __future__ import annotations

import asyncio

import pytest

from eco2.domain.events import EventType
from eco2.entrypoints.api.fanout import SlowClientError, StreamFanout
from eco2.infrastructure.memory.event_stream import InMemoryEventStream


class CountingStream(InMemoryEventStream):
    """Counts blocking reads, i.e. shared-reader reads (catch-up reads do not block)."""

    blocking_reads = 0

    async def read(self, job_id, after=None, *, block_ms=0, count=500):  # type: ignore[no-untyped-def]
        if block_ms:
            CountingStream.blocking_reads += 1
        return await super().read(job_id, after, block_ms=block_ms, count=count)


async def test_many_clients_share_one_reader_and_see_every_event() -> None:
    stream = CountingStream()
    fanout = StreamFanout(stream, block_ms=200)
    await stream.publish("j", EventType.QUEUED, {})

    async def client() -> list[int]:
        return [e.seq async for e in fanout.events("j")]

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
    fanout = StreamFanout(stream, client_buffer=10, block_ms=200)
    await stream.publish("j", EventType.QUEUED, {})
    received: list[str] = []
    slow = fanout.events("j")
    received.append((await slow.__anext__()).id)  # from the catch-up read
    live = asyncio.create_task(slow.__anext__())  # catch-up done: now on the shared reader
    await asyncio.sleep(0.05)
    await stream.publish("j", EventType.TOKEN, {"text": "first live"})
    received.append((await live).id)
    for i in range(40):  # far more than its buffer while it does not read
        await stream.publish("j", EventType.TOKEN, {"text": str(i)})
    await stream.publish("j", EventType.DONE, {})
    await asyncio.sleep(0.3)
    with pytest.raises(SlowClientError):
        async for event in slow:
            received.append(event.id)
    async for event in fanout.events("j", after=received[-1]):  # what a browser does
        received.append(event.id)
    everything = [e.id for e in await stream.read("j", None, count=1000)]
    assert received == everything
