"""The worker: retry events, poison jobs, timeouts, graceful shutdown."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from eco2.application.ports.jobs import JobMessage
from eco2.application.ports.pipeline import TokenDelta
from eco2.application.process_chat import ProcessChat
from eco2.bootstrap import Application
from eco2.domain.chat import new_job_id, new_trace_id
from eco2.domain.errors import UnavailableError
from eco2.domain.events import EventType, StreamEvent
from eco2.entrypoints.worker import runner as worker_runner
from eco2.entrypoints.worker.runner import ChatWorker
from eco2.infrastructure.llm.offline_models import OfflineAnswerModel
from eco2.infrastructure.memory.job_queue import InMemoryJobQueue
from eco2.infrastructure.prometheus.metrics import PrometheusMetrics


@dataclass
class FakeDelivery:
    message: JobMessage
    attempt: int = 1
    outcome: list[str] = field(default_factory=list)

    async def ack(self) -> None:
        self.outcome.append("ack")

    async def requeue(self) -> None:
        self.outcome.append("requeue")

    async def reject(self) -> None:
        self.outcome.append("reject")


def job(request: dict[str, Any] | None = None) -> JobMessage:
    return JobMessage(
        new_job_id(),
        new_trace_id(),
        request if request is not None else {"message": "페트병 어떻게 버려?"},
        time.time(),
        {},
    )


async def stream(app: Application, job_id: str) -> list[StreamEvent]:
    return await app.events.read(job_id, None, count=10_000)


def worker_for(
    app: Application, queue: Any = None, process_chat: ProcessChat | None = None, **kwargs: Any
) -> ChatWorker:
    queue = queue if queue is not None else InMemoryJobQueue()
    process_chat = process_chat or app.process_chat
    kwargs.setdefault("freeze_heap", False)  # the test process's heap is not a worker's
    return ChatWorker(queue, process_chat, app.events, metrics=app.metrics, **kwargs)


async def test_start_freezes_the_startup_heap_by_default(
    make_app: Callable[..., Application], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(worker_runner, "freeze_startup_heap", lambda: calls.append("freeze") or 1)
    app = make_app()
    await ChatWorker(InMemoryJobQueue(), app.process_chat, app.events, metrics=app.metrics).start()
    await worker_for(app).start()
    assert calls == ["freeze"]


async def test_redelivery_emits_retry_then_starts_over(
    make_app: Callable[..., Application],
) -> None:
    app = make_app()
    delivery = FakeDelivery(job(), attempt=2)
    await worker_for(app).handle(delivery)
    events = await stream(app, delivery.message.job_id)
    assert events[0].type is EventType.RETRY and events[0].payload == {"attempt": 2}
    # Its time since enqueued_at includes the earlier run: not a queue wait.
    assert isinstance(app.metrics, PrometheusMetrics)
    assert app.metrics.registry.get_sample_value("chat_queue_wait_seconds_count") == 0
    assert events[-1].type is EventType.DONE
    assert delivery.outcome == ["ack"]


async def test_poison_job_gets_an_error_event_and_is_rejected(
    make_app: Callable[..., Application],
) -> None:
    app = make_app()
    delivery = FakeDelivery(job({"no_message": True}))
    await worker_for(app).handle(delivery)
    [event] = await stream(app, delivery.message.job_id)
    assert event.type is EventType.ERROR and event.payload["code"] == "invalid_job"
    assert delivery.outcome == ["reject"]


async def test_timeout_ends_the_job_with_an_error(make_app: Callable[..., Application]) -> None:
    app = make_app(answer_model=OfflineAnswerModel(tokens_per_s=5))
    delivery = FakeDelivery(job())
    await worker_for(app, job_timeout_s=0.3).handle(delivery)
    events = await stream(app, delivery.message.job_id)
    terminal = [e for e in events if e.type.terminal]
    assert [e.payload["code"] for e in terminal] == ["timeout"]
    assert delivery.outcome == ["ack"]


async def test_shutdown_requeues_what_does_not_finish_in_the_grace_period(
    make_app: Callable[..., Application],
) -> None:
    app = make_app(answer_model=OfflineAnswerModel(tokens_per_s=20))
    worker = worker_for(app, shutdown_grace_s=0.2)
    delivery = FakeDelivery(job())
    task = asyncio.create_task(worker.handle(delivery))
    await asyncio.sleep(0.3)
    assert worker.inflight == 1
    await worker.stop()
    assert task.done() and delivery.outcome == ["requeue"]
    events = await stream(app, delivery.message.job_id)
    assert not [e for e in events if e.type.terminal]


async def test_shutdown_lets_short_jobs_finish(make_app: Callable[..., Application]) -> None:
    app = make_app(answer_model=OfflineAnswerModel(tokens_per_s=200))
    queue = InMemoryJobQueue()
    worker = worker_for(app, queue, shutdown_grace_s=30)
    await worker.start()
    message = job()
    await queue.enqueue(message)
    await asyncio.sleep(0.2)
    await worker.stop()
    events = await stream(app, message.job_id)
    assert events[-1].type is EventType.DONE
    assert len(queue) == 0 and not await queue.dead_letters()


async def test_a_crash_looping_job_ends_with_an_error_on_its_last_delivery(
    make_app: Callable[..., Application],
) -> None:
    app = make_app()
    delivery = FakeDelivery(job(), attempt=4)
    await worker_for(app, max_deliveries=3).handle(delivery)
    [event] = await stream(app, delivery.message.job_id)
    assert event.type is EventType.ERROR and event.payload["code"] == "delivery_limit"
    assert delivery.outcome == ["reject"]


def test_freezing_the_heap_exempts_live_objects() -> None:
    import gc

    from eco2.entrypoints.heap import freeze_startup_heap

    try:
        assert freeze_startup_heap() >= 1
    finally:
        gc.unfreeze()  # the test process keeps collecting as before


class _RepliesLate:
    """The application's stream, but a ``done`` append's reply comes ``lag_s`` after the append
    is durable (a Redis reply on its way when the job's timeout fires)."""

    def __init__(self, inner: Any, lag_s: float) -> None:
        self.inner, self._lag = inner, lag_s

    async def publish(self, job_id: str, event_type: EventType, payload: dict[str, Any]) -> Any:
        event = await self.inner.publish(job_id, event_type, payload)
        if event_type is EventType.DONE:
            await asyncio.sleep(self._lag)
        return event

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_a_timeout_while_done_is_being_written_leaves_one_terminal_event(
    make_app: Callable[..., Application],
) -> None:
    app = make_app()
    late = _RepliesLate(app.events, lag_s=5)
    process_chat = ProcessChat(app.pipeline, late, metrics=app.metrics)
    delivery = FakeDelivery(job())
    worker = worker_for(app, process_chat=process_chat, job_timeout_s=1.0)
    await worker.handle(delivery)  # the timeout fires while done's reply is on its way
    events = await stream(app, delivery.message.job_id)
    assert [e.type for e in events if e.type.terminal] == [EventType.DONE]
    assert delivery.outcome == ["ack"]


async def test_a_redelivered_job_whose_stream_ended_is_acknowledged_without_running(
    make_app: Callable[..., Application],
) -> None:
    app = make_app()
    first = FakeDelivery(job())
    await worker_for(app).handle(first)  # done is written; say its ack was lost
    again = FakeDelivery(first.message, attempt=2)
    await worker_for(app).handle(again)
    events = await stream(app, first.message.job_id)
    assert [e.type for e in events].count(EventType.DONE) == 1
    assert EventType.RETRY not in [e.type for e in events]
    assert again.outcome == ["ack"]


async def test_a_job_failed_by_the_api_meanwhile_stops_at_its_first_write(
    make_app: Callable[..., Application],
) -> None:
    app = make_app()
    message = job()
    await app.events.publish(message.job_id, EventType.ERROR, {"code": "enqueue_failed"})
    delivery = FakeDelivery(message)
    await worker_for(app).handle(delivery)
    events = await stream(app, message.job_id)
    assert [e.type for e in events] == [EventType.ERROR] and delivery.outcome == ["ack"]


async def test_a_cancelled_job_writes_no_waiting_token_after_it_was_requeued(
    make_app: Callable[..., Application],
) -> None:
    app = make_app()
    tokens = ["first ", "second "]

    class TwoTokensThenHang:
        async def run(self, _: Any) -> Any:
            for text in tokens:  # the second waits in the coalescer for its write gap
                yield TokenDelta("answer", text)
            await asyncio.sleep(3600)
            yield None  # pragma: no cover

    process_chat = ProcessChat(TwoTokensThenHang(), app.events, metrics=app.metrics)
    worker = worker_for(app, process_chat=process_chat, shutdown_grace_s=0)
    delivery = FakeDelivery(job())
    running = asyncio.create_task(worker.handle(delivery))
    await asyncio.sleep(0.002)
    await worker.stop()  # SIGTERM with no grace left: cancelled and requeued
    assert running.done() and delivery.outcome == ["requeue"]
    await asyncio.sleep(0.05)  # past the coalescer's timer
    events = await stream(app, delivery.message.job_id)
    assert [e.payload["text"] for e in events] == ["first "]


class Outage:
    """An event sink that fails its first ``failures`` writes, as an unreachable Redis does."""

    def __init__(self, inner: Any, failures: int) -> None:
        self._inner = inner
        self.failures = failures

    async def publish(self, job_id: str, type_: EventType, payload: dict[str, Any]) -> str:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("event store unreachable")
        result: str = await self._inner.publish(job_id, type_, payload)
        return result


async def test_a_dead_letter_without_a_terminal_event_is_ended_with_an_error(
    make_app: Callable[..., Application],
) -> None:
    app = make_app()
    delivery = FakeDelivery(job())
    await app.events.publish(delivery.message.job_id, EventType.QUEUED, {})
    await worker_for(app).end_dead_letter(delivery)
    events = await stream(app, delivery.message.job_id)
    assert [e.type for e in events] == [EventType.QUEUED, EventType.ERROR]
    assert events[-1].payload["code"] == "delivery_limit"
    assert events[-1].payload["trace_id"] == delivery.message.trace_id
    assert delivery.outcome == ["ack"]


async def test_a_dead_letter_whose_stream_ended_is_only_acknowledged(
    make_app: Callable[..., Application],
) -> None:
    app = make_app()
    delivery = FakeDelivery(job({"no_message": True}))
    worker = worker_for(app)
    await worker.handle(delivery)  # writes error(invalid_job), rejects
    copy = FakeDelivery(delivery.message)
    await worker.end_dead_letter(copy)
    events = await stream(app, delivery.message.job_id)
    assert [e.payload["code"] for e in events if e.type.terminal] == ["invalid_job"]
    assert copy.outcome == ["ack"]


async def test_a_dead_letter_is_handed_back_while_its_stream_cannot_be_written(
    make_app: Callable[..., Application],
) -> None:
    app = make_app()
    delivery = FakeDelivery(job())
    outage = Outage(app.events, failures=1)
    worker = ChatWorker(
        InMemoryJobQueue(),
        ProcessChat(app.pipeline, outage, metrics=app.metrics),
        outage,
        metrics=app.metrics,
        freeze_heap=False,
        dead_letter_retry_s=0,
    )
    await worker.end_dead_letter(delivery)
    assert delivery.outcome == ["requeue"]
    assert await stream(app, delivery.message.job_id) == []


async def test_a_job_whose_last_delivery_could_not_end_it_is_ended_from_the_dead_letters(
    make_app: Callable[..., Application],
) -> None:
    # max_deliveries=0: the first delivery is the last chance; its error write fails (not as
    # an unreachable store, which would hold the job), the handler fails, the job is
    # dead-lettered, and the copy is ended on the dead-letter consumer's second try.
    app = make_app()
    queue = InMemoryJobQueue(max_deliveries=0)
    outage = Outage(app.events, failures=2)
    worker = ChatWorker(
        queue,
        ProcessChat(app.pipeline, outage, metrics=app.metrics),
        outage,
        metrics=app.metrics,
        freeze_heap=False,
        dead_letter_retry_s=0,
    )
    message = job()
    await worker.start()
    try:
        await queue.enqueue(message)
        deadline = time.monotonic() + 10
        while not [e for e in await stream(app, message.job_id) if e.type.terminal]:
            assert time.monotonic() < deadline, "the dead-lettered job never ended"
            await asyncio.sleep(0.01)
    finally:
        await worker.stop()
    events = await stream(app, message.job_id)
    assert [e.payload["code"] for e in events if e.type.terminal] == ["delivery_limit"]
    assert [m.job_id for m in await queue.dead_letters()] == [message.job_id]
    assert outage.failures == 0
    assert isinstance(app.metrics, PrometheusMetrics)  # counted once, by whoever ended it
    failed = {"intent": "other", "error_type": "delivery_limit"}
    assert app.metrics.registry.get_sample_value("chat_errors_total", failed) == 1


class StoreOutage(Outage):
    """The first ``failures`` writes meet an unreachable event store."""

    async def publish(self, job_id: str, type_: EventType, payload: dict[str, Any]) -> str:
        if self.failures > 0:
            self.failures -= 1
            raise UnavailableError("event store")
        result: str = await self._inner.publish(job_id, type_, payload)
        return result


async def test_an_unreachable_store_holds_the_job_instead_of_spending_its_deliveries(
    make_app: Callable[..., Application],
) -> None:
    app = make_app()
    queue = InMemoryJobQueue(max_deliveries=1)
    outage = StoreOutage(app.events, failures=3)
    worker = ChatWorker(
        queue,
        ProcessChat(app.pipeline, outage, metrics=app.metrics),
        outage,
        metrics=app.metrics,
        freeze_heap=False,
        store_retry_s=0.01,
    )
    attempts: list[int] = []
    handle = worker.handle

    async def recording(delivery: Any) -> None:
        attempts.append(delivery.attempt)
        await handle(delivery)

    worker.handle = recording  # type: ignore[method-assign]
    message = job()
    await worker.start()
    try:
        await queue.enqueue(message)
        deadline = time.monotonic() + 10
        while not [e for e in await stream(app, message.job_id) if e.type.terminal]:
            assert time.monotonic() < deadline, "the held job never ended"
            await asyncio.sleep(0.01)
    finally:
        await worker.stop()
    events = await stream(app, message.job_id)
    assert attempts == [1] and not await queue.dead_letters()
    assert outage.failures == 0
    assert events[0].type is EventType.RETRY and events[0].payload == {"attempt": 1}
    assert events[-1].type is EventType.DONE
    tokens = "".join(e.payload["text"] for e in events if e.type is EventType.TOKEN)
    assert tokens == events[-1].payload["answer"]
    # One stream, recovered: the run cut short by the outage is not an errored stream.
    assert isinstance(app.metrics, PrometheusMetrics)
    streams = {
        status: app.metrics.registry.get_sample_value(
            "chat_stream_requests_total", {"status": status}
        )
        for status in ("success", "error", "recovered")
    }
    assert streams == {"success": None, "error": None, "recovered": 1.0}
    assert app.metrics.registry.get_sample_value("chat_stream_active") == 0


async def test_a_last_chance_error_waits_for_the_store_instead_of_dead_lettering_silently(
    make_app: Callable[..., Application],
) -> None:
    app = make_app()
    outage = StoreOutage(app.events, failures=2)
    worker = ChatWorker(
        InMemoryJobQueue(),
        ProcessChat(app.pipeline, outage, metrics=app.metrics),
        outage,
        metrics=app.metrics,
        freeze_heap=False,
        max_deliveries=1,
        store_retry_s=0.01,
    )
    delivery = FakeDelivery(job(), attempt=2)
    await worker.handle(delivery)
    [event] = await stream(app, delivery.message.job_id)
    assert event.type is EventType.ERROR and event.payload["code"] == "delivery_limit"
    assert delivery.outcome == ["reject"]


class ErrorWriteOutage(Outage):
    """The first ``failures`` ``error`` writes meet an unreachable event store."""

    async def publish(self, job_id: str, type_: EventType, payload: dict[str, Any]) -> str:
        if type_ is EventType.ERROR and self.failures > 0:
            self.failures -= 1
            raise UnavailableError("event store")
        result: str = await self._inner.publish(job_id, type_, payload)
        return result


async def test_a_timed_out_run_whose_error_write_meets_an_outage_is_not_a_second_stream(
    make_app: Callable[..., Application],
) -> None:
    app = make_app(answer_model=OfflineAnswerModel(tokens_per_s=5))
    outage = ErrorWriteOutage(app.events, failures=1)
    worker = ChatWorker(
        InMemoryJobQueue(),
        ProcessChat(app.pipeline, outage, metrics=app.metrics),
        outage,
        metrics=app.metrics,
        freeze_heap=False,
        job_timeout_s=0.2,
        store_retry_s=0.01,
    )
    delivery = FakeDelivery(job())
    await worker.handle(delivery)  # times out, cannot write error, runs again, times out
    assert delivery.outcome == ["ack"]
    assert isinstance(app.metrics, PrometheusMetrics)
    streams = {
        status: app.metrics.registry.get_sample_value(
            "chat_stream_requests_total", {"status": status}
        )
        for status in ("success", "error", "recovered")
    }
    assert streams == {"success": None, "error": 1.0, "recovered": None}
