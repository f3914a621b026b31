"""Contract of ``JobQueuePort``: the in-memory and the RabbitMQ adapter behave alike.

Every case runs against both adapters; the RabbitMQ runs use the broker on localhost
(``ECO2_TEST_AMQP_URL`` overrides) with a unique queue per test, deleted afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

import aio_pika
import pytest
from yarl import URL

from eco2.application.ports.jobs import Delivery, JobMessage, JobQueuePort
from eco2.infrastructure.memory.job_queue import InMemoryJobQueue, QueueFullError
from eco2.infrastructure.rabbitmq.job_queue import RabbitJobQueue
from tests.fakes.tcp_proxy import TcpProxy
from tests.integration.services import require_service

pytestmark = pytest.mark.integration

AMQP_URL = os.environ.get("ECO2_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
WAIT_S = 10.0
QUIET_S = 0.5  # how long "nothing more arrives" is watched


class ContractQueue(JobQueuePort, Protocol):
    """The port plus the inspection helpers both adapters offer for tests and ops."""

    async def dead_letters(self, limit: int = 100) -> list[JobMessage]: ...

    async def purge(self) -> None: ...


class Backend:
    """Opens queues of one adapter kind on one queue name, and cleans up after the test."""

    kind = "memory"

    def __init__(self) -> None:
        self.opened: list[ContractQueue] = []
        self._memory: InMemoryJobQueue | None = None

    async def open(self, *, max_deliveries: int = 3) -> ContractQueue:
        """A queue with a consumer of its own (for RabbitMQ: a fresh connection)."""
        self._memory = InMemoryJobQueue(max_deliveries=max_deliveries)
        self.opened.append(self._memory)
        return self._memory

    async def reopen(self) -> ContractQueue:
        """The same jobs seen by a new consumer (a restarted or second worker)."""
        assert self._memory is not None
        await self._memory.stop_consuming()
        return self._memory

    async def cleanup(self) -> None:
        for queue in self.opened:
            await queue.close()


class RabbitBackend(Backend):
    kind = "rabbitmq"

    def __init__(self) -> None:
        super().__init__()
        self.name = f"eco2test.{uuid.uuid4().hex}"
        self._max_deliveries = 3

    async def open(self, *, max_deliveries: int = 3) -> ContractQueue:
        self._max_deliveries = max_deliveries
        return await self.reopen()

    async def reopen(self) -> ContractQueue:
        queue = RabbitJobQueue(AMQP_URL, queue=self.name, max_deliveries=self._max_deliveries)
        await queue.connect()
        self.opened.append(queue)
        return queue

    async def cleanup(self) -> None:
        await super().cleanup()
        connection = await aio_pika.connect(AMQP_URL, timeout=WAIT_S)
        async with connection:
            channel = await connection.channel()
            for name in (self.name, f"{self.name}.dead", f"{self.name}.dead.end"):
                await channel.queue_delete(name)
            await channel.exchange_delete(f"{self.name}.dead")

    async def publish_raw(self, body: bytes) -> None:
        """Publish a message that did not come from ``RabbitJobQueue.enqueue``."""
        connection = await aio_pika.connect(AMQP_URL, timeout=WAIT_S)
        async with connection:
            channel = await connection.channel()
            message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
            await channel.default_exchange.publish(message, routing_key=self.name, mandatory=True)

    async def dead_bodies(self) -> list[bytes]:
        """Bodies in the dead-letter queue, removed as they are read."""
        connection = await aio_pika.connect(AMQP_URL, timeout=WAIT_S)
        bodies: list[bytes] = []
        async with connection:
            channel = await connection.channel()
            queue = await channel.get_queue(f"{self.name}.dead")
            while (message := await queue.get(no_ack=True, fail=False)) is not None:
                bodies.append(message.body)
        return bodies


_rabbit_probe: tuple[bool, str] | None = None


async def _probe_rabbit() -> tuple[bool, str]:
    global _rabbit_probe
    if _rabbit_probe is None:
        where = str(URL(AMQP_URL).with_user(None))  # no credentials in test output
        try:
            connection = await aio_pika.connect(AMQP_URL, timeout=3)
        except Exception as exc:
            _rabbit_probe = (False, f"{where} ({type(exc).__name__}: {exc})")
        else:
            await connection.close()
            _rabbit_probe = (True, where)
    return _rabbit_probe


@pytest.fixture(params=["memory", "rabbitmq"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "rabbitmq":
        reachable, detail = await _probe_rabbit()
        require_service("RabbitMQ", reachable, detail)
        chosen: Backend = RabbitBackend()
    else:
        chosen = Backend()
    try:
        yield chosen
    finally:
        await chosen.cleanup()


@pytest.fixture
async def rabbit() -> AsyncIterator[RabbitBackend]:
    reachable, detail = await _probe_rabbit()
    require_service("RabbitMQ", reachable, detail)
    chosen = RabbitBackend()
    try:
        yield chosen
    finally:
        await chosen.cleanup()


def job(n: int = 0) -> JobMessage:
    return JobMessage(
        job_id=f"job-{n}-{uuid.uuid4().hex[:8]}",
        trace_id=uuid.uuid4().hex,
        request={
            "message": "페트병 어떻게 버려?",
            "session_id": "s-1",
            "user_location": {"latitude": 37.5665, "longitude": 126.978},
            "tags": ["a", "b"],
        },
        enqueued_at=time.time(),
        headers={
            "traceparent": f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01",
            "tracestate": "eco2=1",
        },
    )


Action = Callable[[Delivery], Awaitable[None]]


class Recorder:
    """A handler recording ``(job_id, attempt)`` per delivery, then running ``action``."""

    def __init__(self, action: Action | None = None) -> None:
        self.deliveries: list[Delivery] = []
        self._action = action

    async def __call__(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        if self._action is None:
            await delivery.ack()
        else:
            await self._action(delivery)

    @property
    def seen(self) -> list[tuple[str, int]]:
        return [(d.message.job_id, d.attempt) for d in self.deliveries]

    async def wait_for(self, count: int) -> None:
        await eventually(lambda: len(self.deliveries) >= count, f"{count} deliveries")


async def eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def dead_letters_eventually(queue: ContractQueue, count: int) -> list[JobMessage]:
    # The broker dead-letters asynchronously after the reject or the last return.
    deadline = time.monotonic() + WAIT_S
    while len(dead := await queue.dead_letters()) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {count} dead letters, have {len(dead)}")
        await asyncio.sleep(0.05)
    return dead


async def test_enqueued_job_is_delivered_unchanged_with_attempt_1(backend: Backend) -> None:
    queue = await backend.open()
    sent = job()
    await queue.enqueue(sent)
    handler = Recorder()
    await queue.start_consuming(handler, concurrency=1)
    await handler.wait_for(1)

    delivered = handler.deliveries[0]
    assert delivered.message == sent
    assert delivered.message.headers == sent.headers
    assert delivered.attempt == 1
    assert await queue.ping()


async def test_acked_job_is_not_delivered_again(backend: Backend) -> None:
    queue = await backend.open()
    first = job(1)
    await queue.enqueue(first)
    handler = Recorder()
    await queue.start_consuming(handler, concurrency=1)
    await handler.wait_for(1)
    await queue.close()

    again = await backend.reopen()
    marker = job(2)
    await again.enqueue(marker)
    later = Recorder()
    await again.start_consuming(later, concurrency=1)
    await later.wait_for(1)
    await asyncio.sleep(QUIET_S)

    assert later.seen == [(marker.job_id, 1)]
    assert await again.dead_letters() == []


async def test_requeued_job_comes_back_with_attempt_2(backend: Backend) -> None:
    queue = await backend.open()
    sent = job()

    async def requeue_first(delivery: Delivery) -> None:
        await (delivery.requeue() if delivery.attempt == 1 else delivery.ack())

    handler = Recorder(requeue_first)
    await queue.enqueue(sent)
    await queue.start_consuming(handler, concurrency=1)
    await handler.wait_for(2)
    await asyncio.sleep(QUIET_S)

    assert handler.seen == [(sent.job_id, 1), (sent.job_id, 2)]
    assert handler.deliveries[1].message == sent


async def test_handler_that_raises_gets_its_job_requeued(backend: Backend) -> None:
    queue = await backend.open()
    sent = job()

    async def fail_first(delivery: Delivery) -> None:
        if delivery.attempt == 1:
            raise RuntimeError("boom")
        await delivery.ack()

    handler = Recorder(fail_first)
    await queue.enqueue(sent)
    await queue.start_consuming(handler, concurrency=1)
    await handler.wait_for(2)

    assert handler.seen == [(sent.job_id, 1), (sent.job_id, 2)]


async def test_concurrency_bounds_unacked_deliveries(backend: Backend) -> None:
    queue = await backend.open()
    running = peak = 0

    async def slow(delivery: Delivery) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.2)
        running -= 1
        await delivery.ack()

    jobs = [job(n) for n in range(5)]
    for sent in jobs:
        await queue.enqueue(sent)
    handler = Recorder(slow)
    await queue.start_consuming(handler, concurrency=2)
    await handler.wait_for(5)
    await eventually(lambda: running == 0, "handlers to finish")

    assert peak == 2
    assert sorted(job_id for job_id, _ in handler.seen) == sorted(j.job_id for j in jobs)


async def test_rejected_job_is_dead_lettered(backend: Backend) -> None:
    queue = await backend.open()
    sent = job()

    async def reject(delivery: Delivery) -> None:
        await delivery.reject()

    handler = Recorder(reject)
    await queue.enqueue(sent)
    await queue.start_consuming(handler, concurrency=1)
    await handler.wait_for(1)

    assert await dead_letters_eventually(queue, 1) == [sent]
    assert await queue.dead_letters() == [sent]  # reading does not remove
    await asyncio.sleep(QUIET_S)
    assert handler.seen == [(sent.job_id, 1)]


@pytest.mark.parametrize("max_deliveries", [1, 3])
async def test_job_returned_more_than_max_deliveries_is_dead_lettered(
    backend: Backend, max_deliveries: int
) -> None:
    queue = await backend.open(max_deliveries=max_deliveries)
    sent = job()

    async def always_requeue(delivery: Delivery) -> None:
        await delivery.requeue()

    handler = Recorder(always_requeue)
    await queue.enqueue(sent)
    await queue.start_consuming(handler, concurrency=1)

    assert await dead_letters_eventually(queue, 1) == [sent]
    await asyncio.sleep(QUIET_S)
    # The first delivery plus max_deliveries redeliveries; the next return dead-letters it.
    assert handler.seen == [(sent.job_id, n) for n in range(1, max_deliveries + 2)]


async def test_dead_letter_consumer_gets_each_dead_job_once_and_the_queue_keeps_it(
    backend: Backend,
) -> None:
    queue = await backend.open(max_deliveries=1)
    rejected, returned = job(1), job(2)

    async def settle(delivery: Delivery) -> None:
        if delivery.message == rejected:
            await delivery.reject()
        else:
            await delivery.requeue()

    handed_back: list[str] = []

    async def end_later(delivery: Delivery) -> None:
        if delivery.message.job_id not in handed_back:  # the first copy of each comes back
            handed_back.append(delivery.message.job_id)
            await delivery.requeue()
        else:
            await delivery.ack()

    dead = Recorder(end_later)
    await queue.start_consuming_dead_letters(dead)
    await queue.enqueue(rejected)
    await queue.enqueue(returned)
    await queue.start_consuming(Recorder(settle), concurrency=1)

    await dead.wait_for(4)
    await asyncio.sleep(QUIET_S)
    assert sorted(d.message.job_id for d in dead.deliveries) == sorted(
        [rejected.job_id, returned.job_id] * 2
    )
    assert all(d.message in (rejected, returned) for d in dead.deliveries)
    assert sorted(m.job_id for m in await queue.dead_letters()) == sorted(
        [rejected.job_id, returned.job_id]
    )
    await queue.stop_consuming()


@asynccontextmanager
async def behind_a_proxy(
    rabbit: RabbitBackend, **options: Any
) -> AsyncIterator[tuple[RabbitJobQueue, TcpProxy]]:
    """A connected queue that reaches the broker through a proxy the test can cut."""
    url = URL(AMQP_URL)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5672))
    await proxy.start()
    address = str(url.with_host("127.0.0.1").with_port(proxy.port))
    queue = RabbitJobQueue(address, queue=rabbit.name, max_deliveries=1, **options)
    try:
        await queue.connect()
        yield queue, proxy
    finally:
        await asyncio.wait_for(queue.close(), 10)
        await proxy.close()
        connection = await aio_pika.connect(AMQP_URL, timeout=WAIT_S)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(f"{rabbit.name}.dead.end")


async def test_both_consumers_come_back_after_the_connection_drops(rabbit: RabbitBackend) -> None:
    async with behind_a_proxy(rabbit) as (queue, proxy):

        async def reject(delivery: Delivery) -> None:
            await delivery.reject()

        jobs, dead = Recorder(reject), Recorder()
        await queue.start_consuming(jobs, concurrency=1)
        await queue.start_consuming_dead_letters(dead)
        before, after = job(1), job(2)
        await queue.enqueue(before)
        await dead.wait_for(1)
        proxy.drop()  # a network blip: the robust connection reconnects by itself
        deadline = time.monotonic() + 30
        while True:
            try:
                await queue.enqueue(after)
                break
            except Exception:
                assert time.monotonic() < deadline, "the connection never came back"
                await asyncio.sleep(0.5)
        await jobs.wait_for(2)
        await dead.wait_for(2)  # the dead-letter consumer was restored too
        assert [d.message.job_id for d in dead.deliveries] == [before.job_id, after.job_id]


async def test_a_queue_cut_off_from_its_broker_says_it_is_not_consuming(
    rabbit: RabbitBackend,
) -> None:
    """What the worker's /readyz asks: a worker whose connection is down is not ready."""
    async with behind_a_proxy(rabbit, connect_timeout_s=1) as (queue, proxy):
        assert not queue.consuming  # connected, no consumer yet
        await queue.start_consuming(Recorder(), concurrency=1)
        assert queue.consuming
        await proxy.close()  # the broker is gone: the robust connection keeps trying
        await eventually(lambda: not queue.consuming, "the queue to notice the outage")
        await asyncio.wait_for(queue.stop_consuming(), 10)


async def test_memory_queue_consumes_between_start_and_stop() -> None:
    queue = InMemoryJobQueue()
    assert not queue.consuming
    await queue.start_consuming(Recorder(), concurrency=1)
    assert queue.consuming
    await queue.stop_consuming()
    assert not queue.consuming
    await queue.close()


async def test_stopping_during_a_broker_outage_does_not_wait_for_the_broker(
    rabbit: RabbitBackend,
) -> None:
    async with behind_a_proxy(rabbit, connect_timeout_s=1) as (queue, proxy):
        await queue.start_consuming(Recorder(), concurrency=1)
        await queue.start_consuming_dead_letters(Recorder())
        await proxy.close()  # the broker is gone, and stays gone: reconnects are refused
        await asyncio.sleep(0.5)
        started = time.monotonic()
        await asyncio.wait_for(queue.stop_consuming(), 10)  # SIGTERM's first step
        assert time.monotonic() - started < 5


async def test_stop_consuming_stops_new_deliveries_but_not_in_flight_ones(
    backend: Backend,
) -> None:
    queue = await backend.open()
    release = asyncio.Event()
    acked: list[str] = []

    async def hold(delivery: Delivery) -> None:
        await release.wait()
        await delivery.ack()
        acked.append(delivery.message.job_id)

    first, second = job(1), job(2)
    handler = Recorder(hold)
    await queue.enqueue(first)
    await queue.start_consuming(handler, concurrency=2)
    await handler.wait_for(1)
    await queue.stop_consuming()
    await queue.enqueue(second)
    await asyncio.sleep(QUIET_S)
    assert handler.seen == [(first.job_id, 1)]

    release.set()  # the in-flight delivery is still the handler's to settle
    await eventually(lambda: acked == [first.job_id], "in-flight ack")

    later = Recorder()
    await queue.start_consuming(later, concurrency=1)
    await later.wait_for(1)
    await asyncio.sleep(QUIET_S)
    assert later.seen == [(second.job_id, 1)]


@pytest.mark.parametrize("requeue_on_cancel", [False, True], ids=["killed", "cancelled"])
async def test_consumer_that_dies_mid_job_gets_it_redelivered_with_attempt_2(
    backend: Backend, requeue_on_cancel: bool
) -> None:
    # "killed": a worker SIGKILL as the queue sees it, the connection goes and nothing was
    # settled. "cancelled": the handler is cancelled and requeues (as a worker shutting down
    # does), which must also work when the channel is already gone.
    queue = await backend.open()
    sent = job()

    async def never_finish(delivery: Delivery) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            if requeue_on_cancel:
                await delivery.requeue()
            raise

    stuck = Recorder(never_finish)
    await queue.enqueue(sent)
    await queue.start_consuming(stuck, concurrency=1)
    await stuck.wait_for(1)
    await queue.close()

    survivor = await backend.reopen()
    handler = Recorder()
    await survivor.start_consuming(handler, concurrency=1)
    await handler.wait_for(1)

    assert handler.seen == [(sent.job_id, 2)]
    assert handler.deliveries[0].message == sent


async def test_malformed_messages_are_dead_lettered_and_consuming_goes_on(
    rabbit: RabbitBackend, caplog: pytest.LogCaptureFixture
) -> None:
    queue = await rabbit.open()
    await rabbit.publish_raw(b"not json at all")
    await rabbit.publish_raw(b'{"job_id": "x", "request": "not an object"}')
    await rabbit.publish_raw(b"\xff\xfe")
    sent = job()
    await queue.enqueue(sent)
    handler = Recorder()
    with caplog.at_level(logging.WARNING, logger="eco2.infrastructure.rabbitmq.job_queue"):
        await queue.start_consuming(handler, concurrency=1)
        await handler.wait_for(1)
        await eventually(lambda: caplog.text.count("job_message_malformed") == 3, "three warnings")

    assert handler.seen == [(sent.job_id, 1)]
    assert await queue.dead_letters() == []  # not jobs, so not listed ...
    deadline = time.monotonic() + WAIT_S
    bodies: list[bytes] = []
    while len(bodies) < 3 and time.monotonic() < deadline:
        bodies += await rabbit.dead_bodies()  # ... but kept in the dead-letter queue
        await asyncio.sleep(0.05)
    assert sorted(bodies) == sorted(
        [b"not json at all", b'{"job_id": "x", "request": "not an object"}', b"\xff\xfe"]
    )


async def test_rabbit_ping_and_purge(rabbit: RabbitBackend) -> None:
    queue = await rabbit.open()
    assert await queue.ping()
    await queue.enqueue(job())
    await queue.purge()
    handler = Recorder()
    await queue.start_consuming(handler, concurrency=1)
    await asyncio.sleep(QUIET_S)
    assert handler.seen == []
    await queue.close()
    assert not await queue.ping()


async def test_rabbit_nothing_connects_before_connect() -> None:
    queue = RabbitJobQueue("amqp://guest:guest@127.0.0.1:1/")  # nothing listens on port 1
    assert not await queue.ping()
    with pytest.raises(RuntimeError, match="connect"):
        await queue.enqueue(job())
    await queue.close()


async def test_memory_queue_is_bounded() -> None:
    queue = InMemoryJobQueue(max_size=2)
    await queue.enqueue(job(1))
    await queue.enqueue(job(2))
    with pytest.raises(QueueFullError, match="full"):
        await queue.enqueue(job(3))
    assert len(queue) == 2
    await queue.purge()
    assert len(queue) == 0 and queue  # an empty queue stays truthy (`queue or default`)
    await queue.close()


async def test_memory_queue_keeps_only_the_newest_dead_letters() -> None:
    queue = InMemoryJobQueue(max_dead=2)
    jobs = [job(n) for n in range(3)]

    async def reject(delivery: Delivery) -> None:
        await delivery.reject()

    for sent in jobs:
        await queue.enqueue(sent)
    await queue.start_consuming(Recorder(reject), concurrency=1)
    await eventually(lambda: jobs[2] in queue.dead, "the last job to be dead-lettered")
    assert await queue.dead_letters() == jobs[1:]  # the oldest went; memory stays bounded
    await queue.close()
