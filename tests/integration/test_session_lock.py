"""The session lock: the turns of one session run one at a time, in process and across workers
(real Redis on localhost)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from eco2.infrastructure.memory.session_lock import InProcessSessionLock
from eco2.infrastructure.redis.session_lock import RedisSessionLock
from tests.integration.test_event_stream_contract import RedisEnv


@pytest.fixture
async def client(redis_env: RedisEnv) -> AsyncIterator[Redis]:
    """One client for the test's locks and its own look at the keys, closed afterwards."""
    made = redis_env.client()
    yield made
    await made.aclose()


def redis_lock(client: Redis, env: RedisEnv, **kwargs: float) -> RedisSessionLock:
    return RedisSessionLock(client, prefix=env.prefix, ttl_s=30, **kwargs)


async def _order(lock: InProcessSessionLock | RedisSessionLock) -> list[str]:
    """Two jobs of one session and one of another start at once; what happens, in order."""
    seen: list[str] = []

    async def turn(session: str, job: str) -> None:
        async with lock.hold(session, job):
            seen.append(f"{job} in")
            await asyncio.sleep(0.1)
            seen.append(f"{job} out")

    await asyncio.gather(turn("s", "a"), turn("s", "b"), turn("other", "c"))
    return seen


async def test_in_process_turns_of_one_session_do_not_overlap() -> None:
    lock = InProcessSessionLock()
    seen = await _order(lock)
    assert seen.index("a out") < seen.index("b in")  # b waited for a
    assert seen.index("c in") < seen.index("a out")  # another session did not wait
    assert len(lock) == 0  # nothing kept once no job holds or waits


async def test_across_workers_turns_of_one_session_do_not_overlap(
    client: Redis, redis_env: RedisEnv
) -> None:
    workers = [redis_lock(client, redis_env), redis_lock(client, redis_env)]  # two processes
    seen: list[str] = []

    async def turn(lock: RedisSessionLock, job: str) -> None:
        async with lock.hold("s", job):
            seen.append(f"{job} in")
            await asyncio.sleep(0.15)
            seen.append(f"{job} out")

    await asyncio.gather(turn(workers[0], "a"), turn(workers[1], "b"))
    assert seen in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])
    assert not await client.exists(workers[0].key("s"))  # given back


async def test_a_job_run_again_takes_over_its_own_turn_at_once(
    client: Redis, redis_env: RedisEnv
) -> None:
    lock = redis_lock(client, redis_env, wait_s=5)
    await client.set(lock.key("s"), "job-1", px=30_000)  # its earlier run died holding it
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with lock.hold("s", "job-1"):
        assert loop.time() - started < 1  # not the 5 s a stranger would wait
    assert not await client.exists(lock.key("s"))


async def test_a_turn_held_too_long_elsewhere_is_waited_for_only_so_long(
    client: Redis, redis_env: RedisEnv, caplog: pytest.LogCaptureFixture
) -> None:
    lock = redis_lock(client, redis_env, wait_s=0.3)
    await client.set(lock.key("s"), "dead-worker-job", px=30_000)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with caplog.at_level(logging.WARNING):
        async with lock.hold("s", "job-2"):
            waited = loop.time() - started
    assert 0.3 <= waited < 2
    assert "session_turn_wait_exceeded" in caplog.text
    assert await client.get(lock.key("s")) == b"dead-worker-job"  # not ours to give back


async def test_in_process_a_turn_held_too_long_is_waited_for_only_so_long(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lock = InProcessSessionLock(wait_s=0.2)
    release = asyncio.Event()

    async def stuck() -> None:
        async with lock.hold("s", "a"):
            await release.wait()

    holder = asyncio.create_task(stuck())
    await asyncio.sleep(0.01)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with caplog.at_level(logging.WARNING):
        async with lock.hold("s", "b"):
            waited = loop.time() - started
    assert 0.2 <= waited < 2 and "session_turn_wait_exceeded" in caplog.text
    release.set()
    await holder
    assert len(lock) == 0
