"""The Redis event-stream adapter reports an unreachable Redis as ``UnavailableError``."""

from __future__ import annotations

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
