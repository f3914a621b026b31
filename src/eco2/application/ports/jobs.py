"""Port for the job queue: the API enqueues chat jobs, workers consume them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class JobMessage:
    """A queued chat job: ids, the request fields, and the W3C trace context headers."""

    job_id: str
    trace_id: str
    request: dict[str, Any]
    enqueued_at: float
    headers: dict[str, str]


class Delivery(Protocol):
    """One delivery of a job to a worker."""

    @property
    def message(self) -> JobMessage:
        """The job."""
        ...

    @property
    def attempt(self) -> int:
        """1 for the first delivery, 2+ for redeliveries."""
        ...

    async def ack(self) -> None:
        """The job is finished (its terminal event is written): remove it from the queue."""
        ...

    async def requeue(self) -> None:
        """Give the job back to the queue (shutdown before it finished)."""
        ...

    async def reject(self) -> None:
        """Drop the job to the dead-letter queue (poison or out of attempts)."""
        ...


Handler = Callable[[Delivery], Awaitable[None]]


class JobQueuePort(Protocol):
    """A durable queue of chat jobs with at-least-once delivery."""

    async def enqueue(self, message: JobMessage) -> None:
        """Publish ``message`` durably (confirmed by the broker before returning)."""
        ...

    async def start_consuming(self, handler: Handler, concurrency: int) -> None:
        """Deliver jobs to ``handler``, at most ``concurrency`` unacknowledged at a time."""
        ...

    async def start_consuming_dead_letters(self, handler: Handler) -> None:
        """Deliver a copy of every dead-lettered job to ``handler``, one at a time.

        The dead-letter queue keeps its own copy for inspection. ``ack`` settles the copy,
        ``requeue`` hands it over again later, ``reject`` drops it.
        """
        ...

    async def stop_consuming(self) -> None:
        """Stop taking new jobs and dead letters; in-flight deliveries stay with their handlers."""
        ...

    async def ping(self) -> bool:
        """Whether the broker is reachable (for readiness)."""
        ...

    @property
    def consuming(self) -> bool:
        """Whether jobs can arrive now: a consumer on a live connection (a worker's readiness)."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
