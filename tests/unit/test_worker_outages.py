"""The worker when writes fail: dead letters get their terminal event, an unreachable event
store holds jobs instead of spending their deliveries, and the metrics count one stream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from eco2.application.process_chat import ProcessChat
from eco2.bootstrap import Application
from eco2.domain.errors import UnavailableError
from eco2.domain.events import EventType
from eco2.entrypoints.worker.runner import ChatWorker
from eco2.infrastructure.llm.offline_models import OfflineAnswerModel
from eco2.infrastructure.memory.job_queue import InMemoryJobQueue
from eco2.infrastructure.prometheus.metrics import PrometheusMetrics
from tests.unit.test_worker import FakeDelivery, job, stream


class Outage:
    """An event sink whose first ``failures`` writes (of type ``only``, if given) fail.

    ``error`` is what they raise: ``UnavailableError`` is an unreachable store (the worker
    holds the job), anything else a failure of another kind.
    """

    def __init__(
        self,
        inner: Any,
        failures: int,
        error: type[Exception] = ConnectionError,
        only: EventType | None = None,
    ) -> None:
        self._inner = inner
        self.failures = failures
        self._error = error
        self._only = only

    async def publish(self, job_id: str, type_: EventType, payload: dict[str, Any]) -> str:
        if self.failures > 0 and self._only in (None, type_):
            self.failures -= 1
            raise self._error("event store unreachable")
        result: str = await self._inner.publish(job_id, type_, payload)
        return result


def worker_on(
    app: Application, outage: Outage, queue: InMemoryJobQueue | None = None, **kwargs: Any
) -> ChatWorker:
    """A worker whose use case and own writes both go through ``outage``."""
    return ChatWorker(
        queue or InMemoryJobQueue(),
        ProcessChat(app.pipeline, outage, metrics=app.metrics),
        outage,
        metrics=app.metrics,
        freeze_heap=False,
        dead_letter_retry_s=0,
        store_retry_s=0.01,
        **kwargs,
    )


async def run_queued(app: Application, worker: ChatWorker, queue: InMemoryJobQueue) -> str:
    """Start ``worker``, queue one job, wait for its terminal event, stop; return its id."""
    message = job()
    await worker.start()
    try:
        await queue.enqueue(message)
        deadline = time.monotonic() + 10
        while not [e for e in await stream(app, message.job_id) if e.type.terminal]:
            assert time.monotonic() < deadline, f"job {message.job_id} never ended"
            await asyncio.sleep(0.01)
    finally:
        await worker.stop()
    return message.job_id


def metric(app: Application, name: str, **labels: str) -> float | None:
    assert isinstance(app.metrics, PrometheusMetrics)
    return app.metrics.registry.get_sample_value(name, labels)


def streams(app: Application) -> dict[str, float | None]:
    statuses = ("success", "error", "recovered")
    return {s: metric(app, "chat_stream_requests_total", status=s) for s in statuses}


async def test_a_dead_letter_without_a_terminal_event_is_ended_with_an_error(
    make_app: Callable[..., Application],
) -> None:
    app = make_app()
    delivery = FakeDelivery(job())
    await app.events.publish(delivery.message.job_id, EventType.QUEUED, {})
    await worker_on(app, Outage(app.events, failures=0)).end_dead_letter(delivery)
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
    worker = worker_on(app, Outage(app.events, failures=0))
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
    await worker_on(app, Outage(app.events, failures=1)).end_dead_letter(delivery)
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
    job_id = await run_queued(app, worker_on(app, outage, queue), queue)
    events = await stream(app, job_id)
    assert [e.payload["code"] for e in events if e.type.terminal] == ["delivery_limit"]
    assert [m.job_id for m in await queue.dead_letters()] == [job_id]
    assert outage.failures == 0
    # Counted once, by whoever ended it.
    assert metric(app, "chat_errors_total", intent="other", error_type="delivery_limit") == 1


async def test_an_unreachable_store_holds_the_job_instead_of_spending_its_deliveries(
    make_app: Callable[..., Application],
) -> None:
    app = make_app()
    queue = InMemoryJobQueue(max_deliveries=1)
    outage = Outage(app.events, failures=3, error=UnavailableError)
    worker = worker_on(app, outage, queue)
    attempts: list[int] = []
    handle = worker.handle

    async def recording(delivery: Any) -> None:
        attempts.append(delivery.attempt)
        await handle(delivery)

    worker.handle = recording  # type: ignore[method-assign]
    events = await stream(app, await run_queued(app, worker, queue))
    assert attempts == [1] and not await queue.dead_letters()
    assert outage.failures == 0
    assert events[0].type is EventType.RETRY and events[0].payload == {"attempt": 1}
    assert events[-1].type is EventType.DONE
    tokens = "".join(e.payload["text"] for e in events if e.type is EventType.TOKEN)
    assert tokens == events[-1].payload["answer"]
    # One stream, recovered: the run cut short by the outage is not an errored stream.
    assert streams(app) == {"success": None, "error": None, "recovered": 1.0}
    assert metric(app, "chat_stream_active") == 0


async def test_a_last_chance_error_waits_for_the_store_instead_of_dead_lettering_silently(
    make_app: Callable[..., Application],
) -> None:
    app = make_app()
    outage = Outage(app.events, failures=2, error=UnavailableError)
    delivery = FakeDelivery(job(), attempt=2)
    await worker_on(app, outage, max_deliveries=1).handle(delivery)
    [event] = await stream(app, delivery.message.job_id)
    assert event.type is EventType.ERROR and event.payload["code"] == "delivery_limit"
    assert delivery.outcome == ["reject"]


async def test_a_timed_out_run_whose_error_write_meets_an_outage_is_not_a_second_stream(
    make_app: Callable[..., Application],
) -> None:
    app = make_app(answer_model=OfflineAnswerModel(tokens_per_s=5))
    outage = Outage(app.events, failures=1, error=UnavailableError, only=EventType.ERROR)
    delivery = FakeDelivery(job())
    # It times out, cannot write its error, runs again, times out again.
    await worker_on(app, outage, job_timeout_s=0.2).handle(delivery)
    assert delivery.outcome == ["ack"]
    assert streams(app) == {"success": None, "error": 1.0, "recovered": None}


async def test_a_turn_saved_before_its_done_write_failed_is_not_kept_twice(
    make_app: Callable[..., Application], monkeypatch: pytest.MonkeyPatch
) -> None:
    from eco2.pipeline.nodes import answer as answer_node

    app = make_app()
    outage = Outage(app.events, failures=1, error=UnavailableError, only=EventType.DONE)
    delivery = FakeDelivery(job({"message": "페트병 어떻게 버려?", "session_id": "s-twice"}))
    prompts: list[list[str]] = []
    real = answer_node.build_messages

    def spy(*args: Any) -> Any:
        prompt = real(*args)
        prompts.append([m.type for m in prompt])
        return prompt

    monkeypatch.setattr(answer_node, "build_messages", spy)
    await worker_on(app, outage).handle(delivery)  # saved, done refused, run again in place
    assert delivery.outcome == ["ack"]
    state = await app.graph.aget_state({"configurable": {"thread_id": "s-twice"}})
    assert [m.type for m in state.values["messages"]] == ["human", "ai"]
    # The run again answers the question, not its own earlier answer.
    assert prompts == [["system", "human"], ["system", "human"]]


async def test_a_run_again_in_place_counts_the_first_run_in_the_request_duration(
    make_app: Callable[..., Application],
) -> None:
    app = make_app(answer_model=OfflineAnswerModel(tokens_per_s=100))
    outage = Outage(app.events, failures=1, error=UnavailableError, only=EventType.DONE)
    delivery = FakeDelivery(job())
    started = time.perf_counter()
    await worker_on(app, outage).handle(delivery)  # runs, done refused, runs again in place
    elapsed = time.perf_counter() - started
    registry = app.metrics.registry  # type: ignore[attr-defined]
    recorded = sum(
        s.value
        for m in registry.collect()
        for s in m.samples
        if s.name == "chat_request_duration_seconds_sum"
    )
    assert 0.9 * elapsed <= recorded <= elapsed + 1  # both runs: the user waited for both


async def test_a_store_down_for_too_long_gives_the_delivery_back(
    make_app: Callable[..., Application],
) -> None:
    """Held past ``store_hold_s``, the job goes back to the queue (one delivery spent) rather
    than waiting for RabbitMQ's consumer timeout to close the channel under every job."""
    app = make_app()
    outage = Outage(app.events, failures=10_000, error=UnavailableError)
    worker = worker_on(app, outage, store_hold_s=0.1)  # 20 minutes in production
    delivery = FakeDelivery(job())
    started = time.monotonic()
    with pytest.raises(UnavailableError):  # the queue adapter gives it back
        await worker.handle(delivery)
    assert 0.1 <= time.monotonic() - started < 5
    assert delivery.outcome == []  # not acknowledged: nothing ended the job
    assert worker.inflight == 0
