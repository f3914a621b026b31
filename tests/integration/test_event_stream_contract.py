"""The ``EventStreamPort`` contract (DESIGN.md §4), run against every adapter.

The in-memory adapter always runs; the Redis one needs a real Redis (``ECO2_TEST_REDIS_URL``,
default ``redis://127.0.0.1:6379/0``): skipped when unreachable, failed when ``CI=true``.
Each Redis test works under its own key prefix and deletes its keys afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from redis import Redis as SyncRedis
from redis.asyncio import ConnectionPool, Redis

from eco2.application.ports.events import EventStreamPort
from eco2.domain.errors import StreamEndedError
from eco2.domain.events import EventType, StreamEvent
from eco2.infrastructure.memory.event_stream import InMemoryEventStream
from eco2.infrastructure.redis.event_stream import RedisEventStream
from eco2.infrastructure.redis.packing import pack_with_hiredis
from tests.integration.services import require_service

REDIS_URL = os.environ.get("ECO2_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TTL_S = 30


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host))


def _key(entry_id: str) -> tuple[int, int]:
    ms, _, n = entry_id.partition("-")
    return int(ms), int(n)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class RedisEnv:
    """A reachable Redis and a key prefix owned by one test."""

    url: str
    prefix: str

    def make(self, **kwargs: Any) -> RedisEventStream:
        return RedisEventStream(self.client(), prefix=self.prefix, **kwargs)

    def client(self) -> Redis:
        """A client as the services build one: its connections pack with hiredis."""
        return Redis.from_pool(pack_with_hiredis(ConnectionPool.from_url(self.url)))


@pytest.fixture
def redis_env() -> Iterator[RedisEnv]:
    # Synchronous on purpose: the parametrized async ``harness`` fixture can only pull in
    # sync fixtures with ``getfixturevalue``.
    admin = SyncRedis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    try:
        admin.ping()
    except Exception as exc:
        admin.close()
        require_service("Redis", False, f"{_redacted(REDIS_URL)} ({type(exc).__name__}: {exc})")
        raise  # not reached: require_service skips or fails
    env = RedisEnv(REDIS_URL, f"eco2test:{uuid.uuid4().hex}")
    try:
        yield env
    finally:
        keys = list(admin.scan_iter(match=f"{env.prefix}*", count=500))
        if keys:
            admin.delete(*keys)
        admin.close()


@dataclass
class Harness:
    """One adapter under test, plus the adapter-specific ways to observe expiry."""

    kind: str
    factory: Callable[..., EventStreamPort]
    clock: FakeClock = field(default_factory=FakeClock)
    admin: Redis | None = None
    built: list[EventStreamPort] = field(default_factory=list)

    def make(self, **kwargs: Any) -> EventStreamPort:
        stream = self.factory(**kwargs)
        self.built.append(stream)
        return stream

    async def assert_expires(self, stream: EventStreamPort, job_id: str, ttl_s: int) -> None:
        """The job's stream is set to vanish ``ttl_s`` from now (and not before)."""
        if self.admin is not None:
            assert isinstance(stream, RedisEventStream)
            for key in stream.job_keys(job_id):
                assert 0 < await self.admin.ttl(key) <= ttl_s, key
            return
        self.clock.advance(ttl_s - 1)
        assert await stream.exists(job_id)
        self.clock.advance(2)
        assert not await stream.exists(job_id)
        assert await stream.read(job_id) == []

    async def assert_backstop(self, stream: EventStreamPort, job_id: str) -> None:
        """The job's stream (no terminal event yet) lives a day from its first event."""
        day = 86_400
        if self.admin is not None:
            assert isinstance(stream, RedisEventStream)
            for key in (stream.stream_key(job_id), stream.seq_key(job_id)):
                assert TTL_S < await self.admin.ttl(key) <= day, key
            assert not await self.admin.exists(stream.end_key(job_id))
            return
        self.clock.advance(day - 1)
        assert await stream.exists(job_id)
        self.clock.advance(2)
        assert not await stream.exists(job_id)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    if request.param == "redis":
        env: RedisEnv = request.getfixturevalue("redis_env")
        h = Harness("redis", env.make, admin=env.client())
    else:
        clock = FakeClock()
        h = Harness("memory", lambda **kw: InMemoryEventStream(clock=clock, **kw), clock=clock)
    try:
        yield h
    finally:
        for stream in h.built:
            await stream.close()
        if h.admin is not None:
            await h.admin.aclose()


@pytest.fixture
def stream(harness: Harness) -> EventStreamPort:
    return harness.make(ttl_after_terminal_s=TTL_S)


async def _publish_tokens(stream: EventStreamPort, job_id: str, n: int) -> list[StreamEvent]:
    return [await stream.publish(job_id, EventType.TOKEN, {"text": f"t{i}"}) for i in range(n)]


async def test_seq_counts_from_one_and_ids_strictly_increase(stream: EventStreamPort) -> None:
    published = await _publish_tokens(stream, "job", 25)

    assert [e.seq for e in published] == list(range(1, 26))
    keys = [_key(e.id) for e in published]
    assert all(a < b for a, b in itertools.pairwise(keys))


async def test_read_from_start_returns_everything_in_order(stream: EventStreamPort) -> None:
    published = [
        await stream.publish("job", EventType.QUEUED, {}),
        await stream.publish("job", EventType.PROGRESS, {"node": "router", "phase": "started"}),
        *await _publish_tokens(stream, "job", 5),
        await stream.publish("job", EventType.DONE, {"answer": "t0t1t2t3t4"}),
    ]

    assert await stream.read("job") == published
    assert await stream.read("job", None) == published


async def test_read_after_each_id_resumes_exactly_there(stream: EventStreamPort) -> None:
    published = await _publish_tokens(stream, "job", 12)

    for k, event in enumerate(published):
        assert await stream.read("job", event.id) == published[k + 1 :], k


async def test_count_bounds_a_batch_and_paging_loses_nothing(stream: EventStreamPort) -> None:
    published = await _publish_tokens(stream, "job", 10)

    pages: list[list[StreamEvent]] = []
    after: str | None = None
    while page := await stream.read("job", after, count=3):
        pages.append(page)
        after = page[-1].id

    assert [len(p) for p in pages] == [3, 3, 3, 1]
    assert [e for p in pages for e in p] == published


async def test_a_tail_wakes_when_a_stream_gets_its_first_event(stream: EventStreamPort) -> None:
    tail = stream.tail()
    try:
        reader = asyncio.create_task(tail.read({"job": "0-0"}, block_ms=5_000))
        await asyncio.sleep(0.1)  # let the reader block on a stream that does not exist yet
        assert not reader.done()

        started = time.monotonic()
        event = await stream.publish("job", EventType.QUEUED, {})

        assert (await asyncio.wait_for(reader, timeout=3))["job"].events == [event]
        assert time.monotonic() - started < 2
    finally:
        await tail.close()


async def test_a_tail_returns_nothing_after_block_ms(stream: EventStreamPort) -> None:
    (last,) = await _publish_tokens(stream, "job", 1)
    tail = stream.tail()
    try:
        started = time.monotonic()
        assert await tail.read({"job": last.id}, block_ms=200) == {}
        assert await tail.read({"never-published": "0-0"}, block_ms=200) == {}
        elapsed = time.monotonic() - started
    finally:
        await tail.close()

    assert 0.35 <= elapsed < 2


async def test_non_blocking_read_of_nothing_returns_at_once(stream: EventStreamPort) -> None:
    started = time.monotonic()
    assert await stream.read("never-published") == []
    assert time.monotonic() - started < 0.5


async def test_exists_once_something_is_published(stream: EventStreamPort) -> None:
    assert not await stream.exists("job")
    await stream.publish("job", EventType.QUEUED, {})
    assert await stream.exists("job")


async def test_a_stream_never_ended_expires_after_a_day(
    harness: Harness, stream: EventStreamPort
) -> None:
    # Its job lost between the API's queued event and the queue, say: no terminal event comes.
    await _publish_tokens(stream, "running", 3)
    await _publish_tokens(stream, "finished", 3)
    await stream.publish("finished", EventType.DONE, {"answer": "t0t1t2"})
    await stream.publish("failed", EventType.ERROR, {"code": "timeout", "message": "too slow"})

    await harness.assert_backstop(stream, "running")  # memory: moves the clock a day on


@pytest.mark.parametrize("terminal", [EventType.DONE, EventType.ERROR])
async def test_terminal_event_expires_the_stream_after_the_ttl(
    harness: Harness, stream: EventStreamPort, terminal: EventType
) -> None:
    await _publish_tokens(stream, "job", 3)
    await stream.publish("job", terminal, {})
    await stream.publish("other", EventType.TOKEN, {"text": "still running"})

    await harness.assert_expires(stream, "job", TTL_S)
    assert await stream.exists("other")


async def test_max_len_bounds_the_stream_keeping_the_newest(harness: Harness) -> None:
    max_len, written = 100, 500
    stream = harness.make(max_len=max_len)
    await _publish_tokens(stream, "job", written)

    kept = await stream.read("job", count=written)

    # Redis trims approximately (whole radix-tree nodes), the memory adapter exactly.
    assert max_len <= len(kept) <= 2.5 * max_len
    assert [e.seq for e in kept] == list(range(written - len(kept) + 1, written + 1))


async def test_unicode_payloads_round_trip(stream: EventStreamPort) -> None:
    payload = {
        "text": "페트병은 라벨을 떼고 ♻️ 🌏",
        "nested": {"é": ["ß", 1, 2.5, None, True], "빈 값": ""},
        "quote": 'he said "\\n"',
    }

    published = await stream.publish("job", EventType.TOKEN, payload)
    (read,) = await stream.read("job")

    assert read == published
    assert read.payload == payload


async def test_the_stream_keeps_a_json_snapshot_of_the_payload(stream: EventStreamPort) -> None:
    payload: dict[str, Any] = {"text": "before", "items": [1, 2]}
    await stream.publish("job", EventType.TOKEN, payload)
    payload["text"] = "after"
    payload["items"].append(3)

    (read,) = await stream.read("job")

    assert read.payload == {"text": "before", "items": [1, 2]}


async def test_a_payload_that_is_not_json_is_rejected(stream: EventStreamPort) -> None:
    with pytest.raises(TypeError):
        await stream.publish("job", EventType.TOKEN, {"when": object()})

    assert not await stream.exists("job")


async def test_jobs_do_not_see_each_others_events(stream: EventStreamPort) -> None:
    for i in range(4):
        await stream.publish("a", EventType.TOKEN, {"text": f"a{i}"})
        await stream.publish("b", EventType.TOKEN, {"text": f"b{i}"})

    a, b = await stream.read("a"), await stream.read("b")

    assert [e.payload["text"] for e in a] == ["a0", "a1", "a2", "a3"]
    assert [e.payload["text"] for e in b] == ["b0", "b1", "b2", "b3"]
    assert [e.seq for e in a] == [e.seq for e in b] == [1, 2, 3, 4]
    assert await stream.read("b", a[-1].id) == [e for e in b if _key(e.id) > _key(a[-1].id)]


async def test_concurrent_publishers_get_distinct_consecutive_seqs(
    stream: EventStreamPort,
) -> None:
    published = await asyncio.gather(
        *(stream.publish("job", EventType.TOKEN, {"text": str(i)}) for i in range(50))
    )

    assert sorted(e.seq for e in published) == list(range(1, 51))
    read = await stream.read("job", count=100)
    assert [e.seq for e in read] == list(range(1, 51))  # seq order is entry-id order
    assert sorted(read, key=lambda e: e.seq) == sorted(published, key=lambda e: e.seq)


@pytest.mark.parametrize("terminal", [EventType.DONE, EventType.ERROR])
async def test_a_stream_takes_nothing_after_its_terminal_event(
    stream: EventStreamPort, terminal: EventType
) -> None:
    await stream.publish("job-1", EventType.TOKEN, {"text": "a"})
    await stream.publish("job-1", terminal, {})
    for late in (EventType.ERROR, EventType.DONE, EventType.RETRY, EventType.TOKEN):
        with pytest.raises(StreamEndedError):
            await stream.publish("job-1", late, {"text": "late"})
    events = await stream.read("job-1")
    assert [e.type for e in events] == [EventType.TOKEN, terminal]
    assert (await stream.publish("job-2", EventType.DONE, {})).seq == 1  # other jobs unaffected


@pytest.mark.parametrize(
    "bad",
    ["", "abc", "12-", "-1", "1-2-3", "$", "12 - 3", "١٢-0", f"{2**64}-0", f"1-{2**64}", "9" * 30],
)
async def test_a_malformed_position_is_rejected(stream: EventStreamPort, bad: str) -> None:
    await _publish_tokens(stream, "job", 1)

    with pytest.raises(ValueError, match="not a stream entry id"):
        await stream.read("job", bad)


async def test_a_millisecond_only_position_means_sequence_zero(stream: EventStreamPort) -> None:
    published = await _publish_tokens(stream, "job", 3)
    ms = published[1].id.partition("-")[0]

    expected = [e for e in published if _key(e.id) > (int(ms), 0)]
    assert await stream.read("job", ms) == expected


@pytest.mark.integration
async def test_redis_reader_skips_malformed_entries(
    redis_env: RedisEnv, caplog: pytest.LogCaptureFixture
) -> None:
    stream, admin = redis_env.make(), redis_env.client()
    try:
        good = await stream.publish("job", EventType.TOKEN, {"text": "ok"})
        key = stream.stream_key("job")
        for fields in (
            {"seq": "x", "type": "token", "data": "{}"},
            {"seq": "3", "type": "nope", "data": "{}"},
            {"seq": "4", "type": "token", "data": "[1]"},
            {"seq": "5", "type": "token", "data": "{broken"},
            {"unrelated": "1"},
        ):
            await admin.xadd(key, fields)  # type: ignore[arg-type]
        later = await stream.publish("job", EventType.DONE, {"answer": "ok"})

        with caplog.at_level(logging.WARNING, logger="eco2.infrastructure.redis.event_stream"):
            assert await stream.read("job") == [good, later]
            # A batch of nothing but malformed entries is read past, not returned empty.
            assert await stream.read("job", good.id, count=2) == [later]

        warned = [r for r in caplog.records if r.getMessage() == "event_stream_entry_malformed"]
        assert len(warned) == 5 + 5
    finally:
        await stream.close()
        await admin.aclose()


async def test_a_tail_reads_many_streams_at_once(stream: EventStreamPort) -> None:
    a = await _publish_tokens(stream, "job-a", 3)
    b = await _publish_tokens(stream, "job-b", 2)
    tail = stream.tail()
    try:
        found = await tail.read({"job-a": a[0].id, "job-b": "0-0", "job-c": "0-0"}, block_ms=50)
        assert set(found) == {"job-a", "job-b"}  # a job with nothing new is left out
        assert found["job-a"].events == a[1:] and found["job-a"].last_id == a[-1].id
        assert found["job-b"].events == b
        assert await tail.read({"job-a": a[-1].id, "job-b": b[-1].id}, block_ms=50) == {}
    finally:
        await tail.close()


async def test_a_waiting_tail_wakes_on_a_new_entry_and_on_interrupt(
    stream: EventStreamPort,
) -> None:
    first = await stream.publish("job", EventType.QUEUED, {})
    tail = stream.tail()
    try:
        waiting = asyncio.create_task(tail.read({"job": first.id}, block_ms=10_000))
        await asyncio.sleep(0.1)
        token = await stream.publish("job", EventType.TOKEN, {"text": "x"})
        found = await asyncio.wait_for(waiting, 5)
        assert found["job"].events == [token]

        waiting = asyncio.create_task(tail.read({"job": token.id}, block_ms=10_000))
        await asyncio.sleep(0.1)
        assert await tail.interrupt()
        assert await asyncio.wait_for(waiting, 5) == {}  # long before its 10 s block
    finally:
        await tail.close()


async def test_concurrent_publishers_each_keep_their_order(stream: EventStreamPort) -> None:
    async def job(k: int) -> list[StreamEvent]:
        return await _publish_tokens(stream, f"job-{k}", 20)

    results = await asyncio.gather(*(job(k) for k in range(30)))
    for k, published in enumerate(results):
        assert [e.seq for e in published] == list(range(1, 21))
        assert await stream.read(f"job-{k}") == published


@pytest.mark.integration
async def test_redis_appends_survive_a_script_cache_flush(redis_env: RedisEnv) -> None:
    stream = redis_env.make(ttl_after_terminal_s=TTL_S)
    admin = redis_env.client()
    try:
        await stream.publish("job", EventType.QUEUED, {})
        await admin.script_flush()  # as after a Redis restart: the script must be reloaded
        again = await asyncio.gather(*(_publish_tokens(stream, f"job-{k}", 3) for k in range(5)))
        assert all([e.seq for e in events] == [1, 2, 3] for events in again)
        assert (await stream.publish("job", EventType.DONE, {})).seq == 2
    finally:
        await admin.aclose()
        await stream.close()


@pytest.mark.integration
async def test_redis_appends_reconnect_after_their_connection_is_killed(
    redis_env: RedisEnv,
) -> None:
    from eco2.domain.errors import UnavailableError
    from eco2.infrastructure.redis.group_commit import CLIENT_NAME

    stream = redis_env.make(ttl_after_terminal_s=TTL_S)
    admin = redis_env.client()
    try:
        assert (await stream.publish("job", EventType.QUEUED, {})).seq == 1
        writers = [c for c in await admin.client_list() if c.get("name") == CLIENT_NAME]
        assert writers, "the append writer names its connection"
        for client in writers:
            await admin.client_kill_filter(_id=client["id"])
        # The first append may meet the dead socket; its caller then gets the error.
        with contextlib.suppress(UnavailableError):
            await stream.publish("job", EventType.TOKEN, {"text": "a"})
        token = await stream.publish("job", EventType.TOKEN, {"text": "b"})  # a new connection
        texts = [e.payload.get("text") for e in await stream.read("job")]
        assert texts[-1] == "b" and token.seq == len(texts)  # nothing written twice
    finally:
        await admin.aclose()
        await stream.close()


async def test_a_ttl_after_the_end_longer_than_a_day_is_accepted(harness: Harness) -> None:
    # ECO2_STREAM_TTL_S allows it; the backstop then lasts at least as long.
    stream = harness.make(ttl_after_terminal_s=2 * 86_400)
    await stream.publish("job", EventType.QUEUED, {})
    assert await stream.exists("job")
