"""The job queue's RabbitMQ topology (diagram in ``job_queue``), declared idempotently."""

from __future__ import annotations

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractQueue


def dead_letter_name(queue: str) -> str:
    """Name of ``queue``'s dead-letter exchange and dead-letter queue."""
    return f"{queue}.dead"


def dead_end_name(queue: str) -> str:
    """Name of the queue of ``queue``'s dead-letter copies whose jobs' streams workers end."""
    return f"{queue}.dead.end"


async def declare_topology(
    channel: AbstractChannel, queue: str, max_deliveries: int
) -> AbstractQueue:
    """Declare the job queue, its dead-letter exchange and both queues bound to it.

    Args:
        channel: Where to declare.
        queue: The job queue's name.
        max_deliveries: The quorum queue's ``x-delivery-limit``.

    Returns:
        The job queue.
    """
    dead = dead_letter_name(queue)
    exchange = await channel.declare_exchange(dead, aio_pika.ExchangeType.FANOUT, durable=True)
    for name in (dead, dead_end_name(queue)):
        bound = await channel.declare_queue(name, durable=True)
        await bound.bind(exchange)
    return await channel.declare_queue(
        queue,
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": dead,
            "x-delivery-limit": max_deliveries,
        },
    )
