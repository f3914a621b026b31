"""Job messages on the wire (JSON body + AMQP headers) and one delivery's settlement."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from aio_pika.abc import AbstractIncomingMessage
from aio_pika.exceptions import ChannelInvalidStateError

from eco2.application.ports.jobs import JobMessage

log = logging.getLogger(__name__)


def encode_job(message: JobMessage) -> bytes:
    """Serialise a job to the JSON message body (the headers travel as AMQP headers).

    Args:
        message: The job to publish.
    """
    body = {
        "job_id": message.job_id,
        "trace_id": message.trace_id,
        "request": message.request,
        "enqueued_at": message.enqueued_at,
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def decode_job(body: bytes, headers: Mapping[str, Any]) -> JobMessage | None:
    """Parse a message body and its AMQP headers, or return None when it is not a job.

    Args:
        body: The AMQP message body.
        headers: The AMQP headers; broker headers (``x-delivery-count``, ``x-death``, ...) and
            non-text values are left out of ``JobMessage.headers``.
    """
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    job_id, trace_id = data.get("job_id"), data.get("trace_id")
    request, enqueued_at = data.get("request"), data.get("enqueued_at")
    if not (isinstance(job_id, str) and job_id and isinstance(trace_id, str)):
        return None
    if not isinstance(request, dict):
        return None
    if isinstance(enqueued_at, bool) or not isinstance(enqueued_at, int | float):
        return None
    text_headers: dict[str, str] = {}
    for key, value in headers.items():
        if key.startswith("x-"):
            continue
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        if isinstance(value, str):
            text_headers[key] = value
    return JobMessage(job_id, trace_id, request, float(enqueued_at), text_headers)


def delivery_attempt(headers: Mapping[str, Any], redelivered: bool | None) -> int:
    """Number of this delivery: the quorum queue's ``x-delivery-count`` + 1.

    Args:
        headers: The AMQP headers of the delivery.
        redelivered: The AMQP redelivered flag, used when the header is missing (classic queue):
            2 when set, else 1.
    """
    count = headers.get("x-delivery-count")
    if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
        return count + 1
    return 2 if redelivered else 1


class RabbitDelivery:
    """One delivery of a job: the first of ack, requeue or reject counts, later calls do nothing."""

    __slots__ = ("_attempt", "_incoming", "_message", "_settled")

    def __init__(
        self, incoming: AbstractIncomingMessage, message: JobMessage, attempt: int
    ) -> None:
        self._incoming = incoming
        self._message = message
        self._attempt = attempt
        self._settled = False

    @property
    def message(self) -> JobMessage:
        """The job."""
        return self._message

    @property
    def attempt(self) -> int:
        """1 for the first delivery, 2+ for redeliveries."""
        return self._attempt

    @property
    def settled(self) -> bool:
        """Whether ``ack``, ``requeue`` or ``reject`` was called."""
        return self._settled

    async def ack(self) -> None:
        """Remove the job from the queue."""
        if not self._settle():
            await self._incoming.ack()

    async def requeue(self) -> None:
        """Give the job back to the queue; it counts towards the delivery limit.

        When the channel is already gone (connection lost, queue closed) the broker has given
        the job back by itself, so this succeeds without doing anything.
        """
        if self._settle():
            return
        try:
            await self._incoming.nack(requeue=True)
        except ChannelInvalidStateError:
            log.info("job_returned_by_broker", extra={"job_id": self._message.job_id})

    async def reject(self) -> None:
        """Send the job to the dead-letter queue."""
        if not self._settle():
            await self._incoming.reject(requeue=False)

    def _settle(self) -> bool:
        already, self._settled = self._settled, True
        return already
