"""``JobQueuePort`` on RabbitMQ: a durable quorum queue with a dead-letter queue (aio-pika).

Topology, declared by :meth:`RabbitJobQueue.connect` (idempotent)::

    default exchange ──routing key {queue}──▶ {queue}         quorum, durable
                                                 │ rejected, or returned more than
                                                 │ max_deliveries times (x-delivery-limit)
                                                 ▼
                       {queue}.dead (fanout exchange) ──▶ {queue}.dead   classic, durable
                                                      └─────▶ {queue}.dead.end   classic, durable

A message is the JSON object ``{job_id, trace_id, request, enqueued_at}``, persistent, with
``message_id`` = job id; the job's trace-context headers (W3C ``traceparent``) travel as AMQP
headers. The quorum queue counts deliveries itself (``x-delivery-count``), so a job whose worker
is killed again and again is dead-lettered by the broker although no worker lives long enough to
reject it. On RabbitMQ 3.10 a job is delivered at most ``max_deliveries + 1`` times: the broker
dead-letters it when it comes back for the ``max_deliveries + 1``-th time, so the delivery with
``attempt > max_deliveries`` is the worker's last chance to finish the job with an error.
``{queue}.dead`` keeps the dead letters; the workers consume the copy in ``{queue}.dead.end``
and see that its stream has a terminal event (a last chance killed mid-run never wrote one).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
    AbstractRobustConnection,
    FieldValue,
)
from yarl import URL

from eco2.application.ports.jobs import Handler, JobMessage
from eco2.infrastructure.rabbitmq.messages import (
    RabbitDelivery,
    decode_job,
    delivery_attempt,
    encode_job,
)
from eco2.infrastructure.rabbitmq.topology import dead_end_name, dead_letter_name, declare_topology

log = logging.getLogger(__name__)


class RabbitJobQueue:
    """``JobQueuePort`` on a RabbitMQ quorum queue; nothing connects before :meth:`connect`.

    Args:
        url: AMQP URL (``amqp://user:password@host:5672/vhost``); never logged.
        queue: Name of the job queue; the dead-letter exchange and queue are ``{queue}.dead``.
        max_deliveries: The broker's ``x-delivery-limit``: a job returned to the queue more
            often than this (requeued, or its consumer's connection died) is dead-lettered.
        connect_timeout_s: Bound on connecting, on a publisher confirm, on ``ping`` and on
            cancelling the consumers.
    """

    def __init__(
        self,
        url: str,
        *,
        queue: str = "eco2.chat.jobs",
        max_deliveries: int = 3,
        connect_timeout_s: float = 10,
    ) -> None:
        if max_deliveries < 0:
            raise ValueError("max_deliveries must be >= 0")
        self._url = url
        self._queue_name = queue
        self._max_deliveries = max_deliveries
        self._timeout = connect_timeout_s
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None
        self._queue: AbstractQueue | None = None
        self._consumer_tag: str | None = None
        self._dead_consumer: tuple[AbstractChannel, AbstractQueue, str] | None = None

    @property
    def queue_name(self) -> str:
        """Name of the job queue."""
        return self._queue_name

    @property
    def dead_letter_name(self) -> str:
        """Name of the dead-letter exchange and of the dead-letter queue."""
        return dead_letter_name(self._queue_name)

    @property
    def dead_end_name(self) -> str:
        """Name of the queue of dead-letter copies whose jobs' streams the workers end."""
        return dead_end_name(self._queue_name)

    async def connect(self) -> None:
        """Open a robust connection and a confirming channel, and declare the topology."""
        if self._connection is not None:
            return
        # What ``connect_robust`` does, plus closing the connection when the first connect
        # fails, times out or is cancelled: its reconnect task otherwise lives on, retrying
        # (some failures, such as a URL without a host, for ever) and ignoring cancellation.
        connection = aio_pika.RobustConnection(URL(self._url))
        try:
            async with asyncio.timeout(self._timeout):
                await connection.connect(timeout=self._timeout)
        except BaseException:
            await connection.close()
            raise
        try:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            queue = await declare_topology(channel, self._queue_name, self._max_deliveries)
        except BaseException:
            await connection.close()
            raise
        self._connection, self._channel, self._queue = connection, channel, queue
        log.info("job_queue_connected", extra={"queue": self._queue_name})

    async def enqueue(self, message: JobMessage) -> None:
        """Publish ``message`` persistently and wait for the broker's confirm.

        Args:
            message: The job; its ``headers`` become AMQP headers.

        Raises:
            aio_pika.exceptions.DeliveryError: The broker refused or could not route it.
            asyncio.TimeoutError: No confirm within ``connect_timeout_s``.
        """
        channel = self._require_channel()
        headers: dict[str, FieldValue] = dict(message.headers)
        amqp_message = aio_pika.Message(
            encode_job(message),
            headers=headers,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message.job_id,
        )
        await channel.default_exchange.publish(
            amqp_message, routing_key=self._queue_name, mandatory=True, timeout=self._timeout
        )

    async def start_consuming(self, handler: Handler, concurrency: int) -> None:
        """Consume with ``prefetch_count=concurrency``; each delivery runs ``handler`` in its task.

        A handler that raises before settling its delivery has the job requeued. Messages that
        are not jobs are dead-lettered with a warning.

        Args:
            handler: Awaited once per delivery; it settles the delivery.
            concurrency: Prefetch count: deliveries unsettled at once on this consumer.
        """
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        if self._consumer_tag is not None:
            raise RuntimeError("already consuming")
        channel, queue = self._require_channel(), self._require_queue()
        await channel.set_qos(prefetch_count=concurrency)
        self._consumer_tag = await queue.consume(partial(self._on_message, handler))

    async def start_consuming_dead_letters(self, handler: Handler) -> None:
        """Consume ``{queue}.dead.end`` one message at a time on a channel of its own.

        Args:
            handler: Awaited once per dead-lettered job; it settles the copy.
        """
        if self._dead_consumer is not None:
            raise RuntimeError("already consuming dead letters")
        channel = await self._require_connection().channel(publisher_confirms=False)
        try:
            await channel.set_qos(prefetch_count=1)
            # Declared (not merely looked up): only a declared queue is registered with the
            # robust channel, which restores its consumer after a reconnect.
            queue = await channel.declare_queue(self.dead_end_name, durable=True)
            tag = await queue.consume(partial(self._on_message, handler))
        except BaseException:
            await channel.close()
            raise
        self._dead_consumer = (channel, queue, tag)

    async def stop_consuming(self) -> None:
        """Cancel the consumers; unacknowledged deliveries stay with their handlers."""
        dead, self._dead_consumer = self._dead_consumer, None
        tag, self._consumer_tag = self._consumer_tag, None
        if self._is_closed():
            return
        steps: list[Callable[[], Awaitable[Any]]] = []
        if tag is not None and self._queue is not None:
            steps.append(partial(self._queue.cancel, tag))
        if dead is not None:
            channel, queue, dead_tag = dead
            steps += [partial(queue.cancel, dead_tag), channel.close]
        for step in steps:
            # Each bounded: in a broker outage the robust connection reconnects for ever; the
            # broker takes unacknowledged deliveries back when the connection ends anyway.
            try:
                async with asyncio.timeout(self._timeout):
                    await step()
            except Exception as exc:
                log.warning("job_queue_cancel_failed", extra={"error": type(exc).__name__})

    async def ping(self) -> bool:
        """True when the connection is open and the job queue exists (passive declare)."""
        if self._connection is None or self._is_closed():
            return False
        try:
            async with asyncio.timeout(self._timeout):
                channel = await self._connection.channel(publisher_confirms=False)
                try:
                    await channel.declare_queue(self._queue_name, passive=True)
                finally:
                    if not channel.is_closed:
                        await channel.close()
        except Exception as exc:
            log.warning("job_queue_ping_failed", extra={"error": type(exc).__name__})
            return False
        return True

    async def close(self) -> None:
        """Close the connection; handlers still running are cancelled, their jobs redelivered."""
        connection = self._connection
        self._connection = self._channel = self._queue = None
        self._consumer_tag = self._dead_consumer = None
        if connection is not None and not connection.is_closed:
            await connection.close()

    async def dead_letters(self, limit: int = 100) -> list[JobMessage]:
        """Read up to ``limit`` dead-lettered jobs, oldest first, without removing them.

        The messages are fetched unacknowledged on a private channel, then all returned to the
        dead-letter queue at once (a classic queue puts them back in place). Messages that are
        not jobs are skipped.

        Args:
            limit: Most messages to read.
        """
        connection = self._require_connection()
        channel = await connection.channel(publisher_confirms=False)
        try:
            queue = await channel.get_queue(self.dead_letter_name, ensure=False)
            held: list[AbstractIncomingMessage] = []
            while len(held) < limit:
                incoming = await queue.get(no_ack=False, fail=False, timeout=self._timeout)
                if incoming is None:
                    break
                held.append(incoming)
            if held:
                await held[-1].nack(requeue=True, multiple=True)
        finally:
            await channel.close()
        jobs = (decode_job(incoming.body, incoming.headers) for incoming in held)
        return [job for job in jobs if job is not None]

    async def purge(self) -> None:
        """Drop every ready message from the job queue and the dead-letter queues (tests)."""
        channel = self._require_channel()
        for name in (self._queue_name, self.dead_letter_name, self.dead_end_name):
            queue = await channel.get_queue(name, ensure=False)
            await queue.purge()

    async def _on_message(self, handler: Handler, incoming: AbstractIncomingMessage) -> None:
        # aiormq runs each delivery in its own task and cancels it when the channel closes: the
        # broker has then returned the job, so the handler must not settle it any more.
        message = decode_job(incoming.body, incoming.headers)
        if message is None:
            log.warning(
                "job_message_malformed",
                extra={"queue": self._queue_name, "message_id": incoming.message_id},
            )
            try:
                await incoming.reject(requeue=False)
            except Exception as exc:
                log.warning("job_reject_failed", extra={"error": type(exc).__name__})
            return
        delivery = RabbitDelivery(
            incoming, message, delivery_attempt(incoming.headers, incoming.redelivered)
        )
        try:
            await handler(delivery)
        except Exception:
            log.exception(
                "job_handler_failed", extra={"job_id": message.job_id, "attempt": delivery.attempt}
            )
            if delivery.settled:
                return
            try:
                await delivery.requeue()
            except Exception as exc:
                log.warning(
                    "job_requeue_failed",
                    extra={"job_id": message.job_id, "error": type(exc).__name__},
                )

    @property
    def consuming(self) -> bool:
        """Whether jobs can arrive: a consumer on a connection that is up (not reconnecting)."""
        up = self._connection is not None and self._connection.connected.is_set()
        return up and self._consumer_tag is not None

    def _is_closed(self) -> bool:
        return self._connection is None or self._connection.is_closed

    def _require_connection(self) -> AbstractRobustConnection:
        if self._connection is None:
            raise RuntimeError("RabbitJobQueue is not connected; call connect() first")
        return self._connection

    def _require_channel(self) -> AbstractRobustChannel:
        self._require_connection()
        assert self._channel is not None
        return self._channel

    def _require_queue(self) -> AbstractQueue:
        self._require_connection()
        assert self._queue is not None
        return self._queue
