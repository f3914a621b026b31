"""The worker: retry events, poison jobs, timeouts, graceful shutdown."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client import generate_latest

from eco2.application.ports.jobs import JobMessage
from eco2.application.ports.pipeline import TokenDelta
from eco2.application.process_chat import ProcessChat
from eco2.bootstrap import Application
from eco2.domain.chat import ChatJob, ChatRequest, new_job_id, new_trace_id
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
    registry = app.metrics.registry  # type: ignore[attr-defined]
    errors = {"intent": "other", "error_type": "invalid_job"}
    assert registry.get_sample_value("chat_errors_total", errors) == 1  # poison is visible


async def test_timeout_ends_the_job_with_an_error(make_app: Callable[..., Application]) -> None:
    app = make_app(answer_model=OfflineAnswerModel(tokens_per_s=5))
    delivery = FakeDelivery(job())
    await worker_for(app, job_timeout_s=0.3).handle(delivery)
    events = await stream(app, delivery.message.job_id)
    terminal = [e for e in events if e.type.terminal]
    assert [e.payload["code"] for e in terminal] == ["timeout"]
    assert delivery.outcome == ["ack"]
    registry = app.metrics.registry  # type: ignore[attr-defined]
    # The intent mix counts the jobs that fail too, not only the answered ones.
    assert registry.get_sample_value("chat_intents_total", {"intent": "waste"}) == 1


class _SavesForEver:
    """A pipeline whose exit hangs: LangGraph saves the thread's checkpoint as it unwinds, and
    that save waits as long as the database stalls."""

    async def run(self, job: Any) -> Any:
        yield TokenDelta("answer", "첫")
        try:
            await asyncio.sleep(3600)
        finally:
            await asyncio.sleep(3600)  # not cancelled again: one cancellation per task


async def test_a_run_that_cannot_unwind_still_times_out_on_time(
    make_app: Callable[..., Application], monkeypatch: pytest.MonkeyPatch
) -> None:
    from eco2.application import process_chat as use_case

    monkeypatch.setattr(use_case, "UNWIND_S", 0.2)
    app = make_app()
    process_chat = ProcessChat(_SavesForEver(), app.events, metrics=app.metrics)
    delivery = FakeDelivery(job())
    started = time.monotonic()
    await worker_for(app, process_chat=process_chat, job_timeout_s=0.3).handle(delivery)
    assert time.monotonic() - started < 5  # not the hour the save would wait
    events = await stream(app, delivery.message.job_id)
    assert [e.payload["code"] for e in events if e.type.terminal] == ["timeout"]
    assert delivery.outcome == ["ack"]


class _SavesSlowly:
    """A pipeline whose exit takes a while (a slow checkpoint save) and then completes."""

    def __init__(self, save_s: float = 0.6) -> None:
        self.saved = False
        self.save_s = save_s

    async def run(self, job: Any) -> Any:
        yield TokenDelta("answer", "첫")
        try:
            await asyncio.sleep(3600)
        finally:
            await asyncio.sleep(self.save_s)
            self.saved = True


async def test_shutdown_waits_for_a_timed_out_run_still_unwinding(
    make_app: Callable[..., Application], monkeypatch: pytest.MonkeyPatch
) -> None:
    from eco2.application import process_chat as use_case

    monkeypatch.setattr(use_case, "UNWIND_S", 0.1)
    app = make_app()
    pipeline = _SavesSlowly()
    process_chat = ProcessChat(pipeline, app.events, metrics=app.metrics)
    worker = worker_for(app, process_chat=process_chat, job_timeout_s=0.2)
    delivery = FakeDelivery(job())
    await worker.handle(delivery)  # timed out; the run is still saving
    assert delivery.outcome == ["ack"] and not pipeline.saved
    await worker.stop()
    assert pipeline.saved  # the clients close after the save, not under it


async def test_a_run_whose_job_is_cancelled_while_it_unwinds_is_still_waited_for(
    make_app: Callable[..., Application],
) -> None:
    """The job timed out; shutdown cancels it during the run's unwinding: still tracked."""
    app = make_app()
    pipeline = _SavesSlowly(save_s=1.0)
    process_chat = ProcessChat(pipeline, app.events, metrics=app.metrics)
    running = asyncio.create_task(process_chat.execute(ChatJob(ChatRequest("hi")), timeout_s=0.1))
    await asyncio.sleep(0.3)  # timed out at 0.1 s; unwinding (its save takes 1 s)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert not pipeline.saved
    assert await process_chat.settle(5) == 0
    assert pipeline.saved


async def test_shutdown_requeues_what_does_not_finish_in_the_grace_period(
    make_app: Callable[..., Application], caplog: pytest.LogCaptureFixture
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
    [requeued] = [r for r in caplog.records if r.getMessage() == "job_requeued"]
    assert requeued.cause == "shutdown"  # type: ignore[attr-defined]


async def test_a_job_cancelled_under_a_running_worker_is_not_called_a_shutdown(
    make_app: Callable[..., Application], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(answer_model=OfflineAnswerModel(tokens_per_s=20))
    delivery = FakeDelivery(job())
    task = asyncio.create_task(worker_for(app).handle(delivery))
    await asyncio.sleep(0.3)
    task.cancel()  # what aiormq does to a consumer's task when its channel closes
    with pytest.raises(asyncio.CancelledError):
        await task
    assert delivery.outcome == ["requeue"]
    [requeued] = [r for r in caplog.records if r.getMessage() == "job_requeued"]
    assert requeued.cause == "channel_closed"  # type: ignore[attr-defined]


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
    # The client got its answer: the job counts as answered, with its duration.
    text = generate_latest(app.metrics.registry).decode()  # type: ignore[attr-defined]
    assert 'chat_stream_requests_total{status="error"}' not in text
    assert 'chat_stream_requests_total{status="success"} 1.0' in text
    assert 'chat_requests_total{intent="waste",provider="offline",status="success"} 1.0' in text
    assert "chat_errors_total{" not in text


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


async def test_request_duration_and_first_token_count_the_queue_wait(
    make_app: Callable[..., Application],
) -> None:
    app = make_app()
    message = job()
    message = JobMessage(message.job_id, message.trace_id, message.request, time.time() - 5, {})
    delivery = FakeDelivery(message)
    await worker_for(app).handle(delivery)
    registry = app.metrics.registry  # type: ignore[attr-defined]
    for metric in ("chat_request_duration_seconds", "chat_time_to_first_token_seconds"):
        waited = sum(
            s.value for m in registry.collect() for s in m.samples if s.name == f"{metric}_sum"
        )
        assert 5 <= waited < 60, metric  # the user waited from the request on
