"""The Redis event-stream adapter reports an unreachable Redis as ``UnavailableError``."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from eco2.domain.errors import UnavailableError
from eco2.domain.events import EventType
from eco2.infrastructure.redis.event_stream import RedisEventStream


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # nothing listens there any more: connecting is refused


@pytest.fixture
async def unreachable() -> AsyncIterator[RedisEventStream]:
    client = Redis.from_url(f"redis://127.0.0.1:{closed_port()}/0", socket_connect_timeout=1)
    store = RedisEventStream(client, prefix="eco2test-unreachable")
    yield store
    await store.close()


async def test_publish_read_and_exists_say_the_store_is_unavailable(
    unreachable: RedisEventStream,
) -> None:
    with pytest.raises(UnavailableError, match="event store"):
        await unreachable.publish("job-1", EventType.QUEUED, {})
    with pytest.raises(UnavailableError, match="event store"):
        await unreachable.read("job-1")
    with pytest.raises(UnavailableError, match="event store"):
        await unreachable.exists("job-1")


async def test_a_redis_that_never_answers_is_unavailable_too() -> None:
    """Reads time out on the socket; appends share one deadline per round trip: same error."""
    held: list[asyncio.StreamWriter] = []

    async def silent(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # accepted, never answered

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = Redis.from_url(f"redis://127.0.0.1:{port}/0", socket_timeout=0.3)
    store = RedisEventStream(client, prefix="eco2test-silent")
    try:
        with pytest.raises(UnavailableError, match="event store"):
            await store.publish("job-1", EventType.QUEUED, {})
        with pytest.raises(UnavailableError, match="event store"):
            await store.read("job-1")
    finally:
        await store.close()
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()
