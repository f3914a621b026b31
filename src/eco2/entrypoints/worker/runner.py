"""Runs queued chat jobs: timeouts, retries, poison jobs and graceful shutdown.

A job is acknowledged only after its terminal event is written. A redelivered job first emits
``retry`` (clients drop the partial answer) and starts over. On shutdown the worker stops
taking jobs, lets in-flight ones finish for a grace period, then requeues the rest. While the
event store is unreachable a job's delivery is held and its writes retried, not requeued. Every
dead-lettered job's stream is given its terminal event if it has none yet (its last delivery
was killed, or could not reach the stream): DESIGN.md §4 wants one on every stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from eco2.application.ports.events import EventSinkPort
from eco2.application.ports.jobs import Delivery, JobQueuePort
from eco2.application.ports.metrics import MetricsPort
from eco2.application.process_chat import ProcessChat
from eco2.domain.chat import ChatJob, ChatRequest, GeoPoint, JobStatus
from eco2.domain.errors import InvalidRequestError, StreamEndedError, UnavailableError
from eco2.domain.events import EventType
from eco2.entrypoints.heap import freeze_startup_heap
from eco2.infrastructure.telemetry.otel import extract_context

log = logging.getLogger(__name__)
T = TypeVar("T")
_STORE_RETRY_MAX_S = 30.0
_UNWIND_BUDGET_S = 5.0  # shutdown: for jobs cancelled after the grace period, and runs unwinding


def request_from(raw: dict[str, Any]) -> ChatRequest:
    """Rebuild a validated request from a job message's ``request`` dict.

    Raises:
        InvalidRequestError: when the dict is not a valid request.
    """
    try:
        location = raw.get("user_location")
        return ChatRequest(
            message=raw["message"],
            session_id=raw.get("session_id"),
            user_location=GeoPoint(location["latitude"], location["longitude"])
            if location
            else None,
            image_url=raw.get("image_url"),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise InvalidRequestError("request", f"malformed job: {exc!r}") from None


class ChatWorker:
    """Consumes jobs and runs them through the chat use case.

    Args:
        queue: Where jobs come from.
        process_chat: The use case.
        events: The job event streams (for ``retry``).
        concurrency: Jobs run at once.
        job_timeout_s: A job still running after this ends with an ``error`` event.
        shutdown_grace_s: How long in-flight jobs may finish on shutdown.
        max_deliveries: Redeliveries allowed; the broker hands a job over once more after
            that (RabbitMQ quorum ``x-delivery-limit`` semantics), and that last delivery
            ends the job with an ``error`` event instead of running it again.
        metrics: Queue wait and jobs in flight go here.
        tracer: The job span continues the trace carried in the message headers.
        freeze_heap: Exempt the objects alive at :meth:`start` (models, graph, clients) from
            garbage collection, which otherwise walks them again on every full collection.
        dead_letter_retry_s: Pause before a dead letter whose stream could not be written is
            handed over again.
        store_retry_s: First pause before a job's write is tried again while the event store
            is unreachable (doubling up to 30 s); the delivery is held meanwhile.
        store_hold_s: Longest a delivery is held so (default: 25 minutes less the job timeout,
            at least one, since a run started just before it may use its whole timeout); then
            it goes back to the queue (one delivery spent), before RabbitMQ's 30-minute
            consumer timeout would close the channel and send back every job on it.
    """

    def __init__(
        self,
        queue: JobQueuePort,
        process_chat: ProcessChat,
        events: EventSinkPort,
        *,
        concurrency: int = 8,
        job_timeout_s: float = 120.0,
        shutdown_grace_s: float = 30.0,
        max_deliveries: int = 3,
        metrics: MetricsPort,
        tracer: trace.Tracer | None = None,
        freeze_heap: bool = True,
        dead_letter_retry_s: float = 5.0,
        store_retry_s: float = 1.0,
        store_hold_s: float | None = None,
    ) -> None:
        self._queue = queue
        self._process_chat = process_chat
        self._events = events
        self._concurrency = concurrency
        self._job_timeout_s = job_timeout_s
        self._grace_s = shutdown_grace_s
        self._max_deliveries = max_deliveries
        self._metrics = metrics
        self._tracer = tracer or trace.NoOpTracer()
        self._inflight: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self._freeze_heap = freeze_heap
        self._dead_letter_retry_s = dead_letter_retry_s
        self._store_retry_s = store_retry_s
        default_hold_s = max(60.0, 1500 - job_timeout_s)
        self._store_hold_s = default_hold_s if store_hold_s is None else store_hold_s

    @property
    def inflight(self) -> int:
        """Jobs running now."""
        return len(self._inflight)

    async def start(self) -> None:
        """Start consuming (first freezing the startup heap, unless told not to)."""
        frozen = freeze_startup_heap() if self._freeze_heap else 0
        await self._queue.start_consuming(self.handle, self._concurrency)
        await self._queue.start_consuming_dead_letters(self.end_dead_letter)
        log.info("worker_started", extra={"concurrency": self._concurrency, "frozen": frozen})

    async def handle(self, delivery: Delivery) -> None:
        """Run one delivery to its terminal event, then acknowledge it."""
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            await self._run(delivery)
        finally:
            if task is not None:
                self._inflight.discard(task)

    async def end_dead_letter(self, delivery: Delivery) -> None:
        """Write ``error(delivery_limit)`` on a dead-lettered job's stream unless it has ended."""
        message = delivery.message
        try:
            await self._process_chat.fail(
                message.job_id,
                message.trace_id,
                "delivery_limit",
                "the job was given up after repeated failures",
            )
        except StreamEndedError:  # the usual case: its last delivery wrote the terminal event
            await delivery.ack()
            return
        except Exception as exc:
            log.warning(
                "dead_letter_end_failed",
                extra={"job_id": message.job_id, "error": type(exc).__name__},
            )
            await asyncio.sleep(self._dead_letter_retry_s)
            await delivery.requeue()
            return
        log.error("job_ended_after_dead_letter", extra={"job_id": message.job_id})
        await delivery.ack()

    async def _run(self, delivery: Delivery) -> None:
        message = delivery.message
        try:
            request = request_from(message.request)
        except InvalidRequestError as exc:
            log.warning("job_rejected_invalid", extra={"job_id": message.job_id})
            reason = exc.message
            with contextlib.suppress(StreamEndedError):  # ended already: nothing to add
                await self._while_store_down(
                    message.job_id,
                    lambda: self._process_chat.fail(
                        message.job_id, message.trace_id, "invalid_job", reason
                    ),
                )
            await delivery.reject()
            return
        waited_s = max(0.0, time.time() - message.enqueued_at)  # the API's clock, as queue wait
        requested_at = time.perf_counter() - waited_s
        job = ChatJob(request, message.job_id, message.trace_id, requested_at=requested_at)
        if delivery.attempt > self._max_deliveries:
            # Every earlier attempt died without a terminal event (a crash loop): give up.
            log.error("job_delivery_limit", extra={"job_id": job.job_id})
            reason = f"the job failed {delivery.attempt - 1} times"
            with contextlib.suppress(StreamEndedError):
                await self._while_store_down(
                    job.job_id,
                    lambda: self._process_chat.fail(
                        job.job_id, job.trace_id, "delivery_limit", reason
                    ),
                )
            await delivery.reject()
            return
        if delivery.attempt > 1:
            log.warning(
                "job_redelivered", extra={"job_id": job.job_id, "attempt": delivery.attempt}
            )
            try:
                await self._while_store_down(
                    job.job_id,
                    lambda: self._events.publish(
                        job.job_id, EventType.RETRY, {"attempt": delivery.attempt}
                    ),
                )
            except StreamEndedError:  # an earlier delivery ended it, then lost its ack
                log.warning("job_already_ended", extra={"job_id": job.job_id})
                await delivery.ack()
                return
        if delivery.attempt == 1:  # a redelivery's enqueued_at includes its earlier runs
            self._metrics.queue_wait(time.time() - message.enqueued_at)
        self._metrics.jobs_in_flight(+1)
        span = self._tracer.start_span(
            "chat job",
            context=extract_context(message.headers),
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "rabbitmq",
                "messaging.operation.type": "process",
                "eco2.job_id": job.job_id,
                "eco2.attempt": delivery.attempt,
            },
        )
        try:
            with trace.use_span(span, end_on_exit=True):
                await self._execute(job, delivery.attempt)
                if job.status is JobStatus.ERROR:  # ended with an error event: a failed job
                    span.set_status(Status(StatusCode.ERROR, job.error_code))
                    span.set_attribute("error.type", job.error_code or "error")
        except StreamEndedError:  # the retry before running it again in place found it ended
            log.warning("job_already_ended", extra={"job_id": job.job_id})
        except asyncio.CancelledError:
            # The worker stopping, or the broker's channel closing under the job (a dropped
            # connection, the consumer timeout): either way the broker gets the job back.
            cause = "shutdown" if self._stopping else "channel_closed"
            log.warning("job_requeued", extra={"job_id": job.job_id, "cause": cause})
            await asyncio.shield(delivery.requeue())
            raise
        finally:
            self._metrics.jobs_in_flight(-1)
        await delivery.ack()

    async def _execute(self, job: ChatJob, attempt: int) -> None:
        """Run the job; if the event store becomes unreachable, run it again once it is back.

        The delivery is held meanwhile rather than requeued: a store outage would otherwise
        spend every delivery of every job in milliseconds and dead-letter them unrun. The run
        again starts with a ``retry`` (same attempt), so clients drop the partial answer.
        """
        runs = 0

        async def run() -> None:
            nonlocal runs
            runs += 1
            if runs > 1:
                await self._events.publish(job.job_id, EventType.RETRY, {"attempt": attempt})
            # A run after a retry event is a recovery, as a redelivery is (metrics).
            await self._process_chat.execute(job, attempt + runs - 1, self._job_timeout_s)

        await self._while_store_down(job.job_id, run)

    async def _while_store_down(self, job_id: str, call: Callable[[], Awaitable[T]]) -> T:
        """Await ``call()``; while it meets an unreachable event store, wait and call it again,
        for at most ``store_hold_s``; then the ``UnavailableError`` gives the delivery back."""
        delay = self._store_retry_s
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self._store_hold_s
        while True:
            try:
                return await call()
            except UnavailableError:
                if loop.time() >= give_up:
                    log.warning("job_given_back", extra={"job_id": job_id, "cause": "store_down"})
                    raise
                log.warning("event_store_unavailable", extra={"job_id": job_id, "retry_s": delay})
                await asyncio.sleep(delay)
                delay = min(2 * delay, _STORE_RETRY_MAX_S)

    async def stop(self) -> None:
        """Stop consuming; let in-flight jobs finish within the grace period, requeue the rest."""
        self._stopping = True
        await self._queue.stop_consuming()
        pending = set(self._inflight)
        if pending:
            log.info("worker_draining", extra={"inflight": len(pending)})
            _, pending = await asyncio.wait(pending, timeout=self._grace_s)
        for task in pending:
            task.cancel()
        unwound_by = asyncio.get_running_loop().time() + _UNWIND_BUDGET_S
        if pending:
            await asyncio.wait(pending, timeout=_UNWIND_BUDGET_S)
        # Runs cancelled now or past their timeout may still be saving a checkpoint: they get
        # the rest of the budget before the caller closes the clients under them.
        await self._process_chat.settle(max(0.0, unwound_by - asyncio.get_running_loop().time()))
        log.info("worker_stopped", extra={"requeued": len(pending)})
