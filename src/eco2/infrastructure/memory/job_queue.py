"""``JobQueuePort`` in memory for embedded mode, with the RabbitMQ adapter's semantics.

One dispatcher task takes jobs off an ``asyncio.Queue`` and runs each in its own handler task,
with at most ``concurrency`` deliveries unsettled at a time (what ``prefetch_count`` is for the
RabbitMQ adapter). Deliveries are counted per job: ``requeue`` puts the job back with
``attempt + 1``, and a job returned more than ``max_deliveries`` times — or rejected — goes to
the ``dead`` list instead (the newest ``max_dead`` kept), and a copy of it to the dead-letter
consumer, if one is started (one copy at a time, given back on ``requeue``). Jobs live only as
long as the process.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice

from eco2.application.ports.jobs import Handler, JobMessage
from eco2.domain.errors import Eco2Error

log = logging.getLogger(__name__)


class QueueFullError(Eco2Error):
    """The in-memory job queue already holds ``max_size`` jobs waiting for a worker."""


@dataclass(frozen=True, slots=True)
class _Entry:
    message: JobMessage
    attempt: int


class MemoryDelivery:
    """One delivery of a job: the first of ack, requeue or reject counts, later calls do nothing."""

    __slots__ = ("_entry", "_give_back", "_reject", "_settled", "_slots")

    def __init__(
        self,
        entry: _Entry,
        slots: asyncio.Semaphore,
        give_back: Callable[[_Entry], None],
        reject: Callable[[_Entry], None],
    ) -> None:
        self._entry = entry
        self._slots = slots
        self._give_back = give_back
        self._reject = reject
        self._settled = False

    @property
    def message(self) -> JobMessage:
        """The job."""
        return self._entry.message

    @property
    def attempt(self) -> int:
        """1 for the first delivery, 2+ for redeliveries."""
        return self._entry.attempt

    @property
    def settled(self) -> bool:
        """Whether ``ack``, ``requeue`` or ``reject`` was called."""
        return self._settled

    async def ack(self) -> None:
        """Forget the job."""
        self._settle()

    async def requeue(self) -> None:
        """Give the job back (dead-lettered once it came back more than ``max_deliveries``)."""
        if self._settle():
            self._give_back(self._entry)

    async def reject(self) -> None:
        """Move the job to the ``dead`` list."""
        if self._settle():
            self._reject(self._entry)

    def _settle(self) -> bool:
        if self._settled:
            return False
        self._settled = True
        self._slots.release()
        return True


class InMemoryJobQueue:
    """``JobQueuePort`` backed by an ``asyncio.Queue``.

    Args:
        max_deliveries: A job given back more often than this is dead-lettered, as with the
            RabbitMQ adapter's ``x-delivery-limit`` (so at most ``max_deliveries + 1`` deliveries).
        max_size: Bound on jobs waiting for a worker; ``enqueue`` beyond it raises
            :class:`QueueFullError`.
        max_dead: Dead-lettered jobs kept for inspection; older ones are dropped (a
            long-running ``eco2 serve`` must not grow without bound).
    """

    def __init__(
        self, *, max_deliveries: int = 3, max_size: int = 10_000, max_dead: int = 1_000
    ) -> None:
        if max_deliveries < 0:
            raise ValueError("max_deliveries must be >= 0")
        if max_size < 1:
            raise ValueError("max_size must be >= 1")
        self._max_deliveries = max_deliveries
        self._max_size = max_size
        # Unbounded underneath: only enqueue is bounded, so a requeue never fails.
        self._pending: asyncio.Queue[_Entry] = asyncio.Queue()
        self._dispatcher: asyncio.Task[None] | None = None
        self._dead_pending: asyncio.Queue[_Entry] = asyncio.Queue()
        self._dead_dispatcher: asyncio.Task[None] | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self.dead: deque[JobMessage] = deque(maxlen=max_dead)
        """Dead-lettered jobs, oldest first (the newest ``max_dead``)."""

    @property
    def consuming(self) -> bool:
        """Whether the dispatcher runs (jobs reach the handler)."""
        return self._dispatcher is not None and not self._dispatcher.done()

    def __len__(self) -> int:
        """Number of jobs waiting for a worker."""
        return self._pending.qsize()

    def __bool__(self) -> bool:
        """Always true: an empty queue is still a queue (``queue or default`` must keep it)."""
        return True

    async def enqueue(self, message: JobMessage) -> None:
        """Queue ``message`` for its first delivery.

        Args:
            message: The job.

        Raises:
            QueueFullError: ``max_size`` jobs are already waiting.
        """
        if self._pending.qsize() >= self._max_size:
            raise QueueFullError(f"job queue is full ({self._max_size} jobs waiting)")
        self._pending.put_nowait(_Entry(message, attempt=1))

    async def start_consuming(self, handler: Handler, concurrency: int) -> None:
        """Run ``handler`` per job in its own task, at most ``concurrency`` unsettled at once.

        A handler that raises before settling its delivery has the job requeued; one cancelled
        before settling (the process is shutting down) has it given back the same way.

        Args:
            handler: Awaited once per delivery; it settles the delivery.
            concurrency: Deliveries unsettled at once.
        """
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        if self._dispatcher is not None:
            raise RuntimeError("already consuming")
        slots = asyncio.Semaphore(concurrency)
        self._dispatcher = asyncio.create_task(
            self._dispatch(handler, slots, self._pending, self._return, self._rejected),
            name="eco2-job-dispatcher",
        )

    async def start_consuming_dead_letters(self, handler: Handler) -> None:
        """Run ``handler`` on each dead-lettered job's copy, one at a time.

        Args:
            handler: Awaited once per copy; ``requeue`` gives the copy back, the rest drop it.
        """
        if self._dead_dispatcher is not None:
            raise RuntimeError("already consuming dead letters")
        self._dead_dispatcher = asyncio.create_task(
            self._dispatch(
                handler,
                asyncio.Semaphore(1),
                self._dead_pending,
                self._dead_pending.put_nowait,
                lambda entry: None,
            ),
            name="eco2-dead-letter-dispatcher",
        )

    async def stop_consuming(self) -> None:
        """Stop taking jobs; deliveries in flight stay with their handlers until settled."""
        dispatchers = (self._dispatcher, self._dead_dispatcher)
        self._dispatcher = self._dead_dispatcher = None
        for dispatcher in dispatchers:
            if dispatcher is None:
                continue
            dispatcher.cancel()
            try:
                await dispatcher
            except asyncio.CancelledError:
                # Re-raise only if the caller itself is being cancelled, not the dispatcher.
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise

    async def ping(self) -> bool:
        """Always reachable."""
        return True

    async def close(self) -> None:
        """Stop consuming and cancel running handlers; their unsettled jobs are given back."""
        await self.stop_consuming()
        handlers = list(self._handlers)
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    async def dead_letters(self, limit: int = 100) -> list[JobMessage]:
        """Return up to ``limit`` dead-lettered jobs, oldest first, without removing them.

        Args:
            limit: Most jobs to return.
        """
        return list(islice(self.dead, limit))

    async def purge(self) -> None:
        """Drop every waiting and dead-lettered job (tests)."""
        for pending in (self._pending, self._dead_pending):
            while not pending.empty():
                pending.get_nowait()
        self.dead.clear()

    async def _dispatch(
        self,
        handler: Handler,
        slots: asyncio.Semaphore,
        source: asyncio.Queue[_Entry],
        give_back: Callable[[_Entry], None],
        reject: Callable[[_Entry], None],
    ) -> None:
        while True:
            await slots.acquire()
            try:
                entry = await source.get()
            except BaseException:
                slots.release()
                raise
            delivery = MemoryDelivery(entry, slots, give_back, reject)
            task = asyncio.create_task(self._run(handler, delivery))
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)

    async def _run(self, handler: Handler, delivery: MemoryDelivery) -> None:
        job_id = delivery.message.job_id
        try:
            await handler(delivery)
        except asyncio.CancelledError:
            if not delivery.settled:
                await delivery.requeue()
            raise
        except Exception:
            log.exception(
                "job_handler_failed", extra={"job_id": job_id, "attempt": delivery.attempt}
            )
            if not delivery.settled:
                await delivery.requeue()

    def _return(self, entry: _Entry) -> None:
        if entry.attempt > self._max_deliveries:
            self._dead_letter(entry, "delivery_limit")
        else:
            self._pending.put_nowait(_Entry(entry.message, entry.attempt + 1))

    def _rejected(self, entry: _Entry) -> None:
        self._dead_letter(entry, "rejected")

    def _dead_letter(self, entry: _Entry, reason: str) -> None:
        log.warning(
            "job_dead_lettered",
            extra={"job_id": entry.message.job_id, "attempt": entry.attempt, "reason": reason},
        )
        self.dead.append(entry.message)
        self._dead_pending.put_nowait(_Entry(entry.message, attempt=1))
