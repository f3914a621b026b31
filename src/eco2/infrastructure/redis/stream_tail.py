"""``StreamTail`` on Redis: one ``XREAD BLOCK`` over every followed job's stream.

The tail reads on a connection of its own, so it knows that connection's ``CLIENT ID``;
:meth:`RedisStreamTail.interrupt` sends ``CLIENT UNBLOCK`` for it from the shared pool, which
makes a waiting ``XREAD`` return empty at once — how a new job joins the read without waiting
for the block to time out. Should the connection have been re-established since the id was
taken, or an ACL forbids ``CLIENT UNBLOCK``, an interrupt misses and the read simply lasts its
``block_ms`` (a job joining then waits up to that long for its first live event).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from redis.asyncio import Redis

from eco2.application.ports.events import TailBatch
from eco2.infrastructure.redis.entries import parse_entry, streams_of, text

log = logging.getLogger(__name__)


class RedisStreamTail:
    """Follows many job streams with one blocking read (``StreamTail``).

    Args:
        client: The adapter's client; the tail takes one connection of its pool for itself.
        stream_key: Maps a job id to its stream's key.
    """

    def __init__(self, client: Redis, stream_key: Callable[[str], str]) -> None:
        self._shared = client
        self._own = Redis(connection_pool=client.connection_pool, single_connection_client=True)
        self._stream_key = stream_key
        self._client_id: int | None = None
        self._warned = False

    async def read(
        self, positions: Mapping[str, str], *, block_ms: int, count: int = 500
    ) -> dict[str, TailBatch]:
        """Return, per job with new entries, up to ``count`` entries after its position.

        Waits up to ``block_ms`` when none has any; ``{}`` on time-out or interruption.
        """
        if not positions:
            return {}
        jobs = {self._stream_key(job_id): job_id for job_id in positions}
        streams: dict[Any, Any] = {self._stream_key(j): after for j, after in positions.items()}
        try:
            if self._client_id is None:
                self._client_id = int(await self._own.client_id())
            response = await self._own.xread(streams, count=count, block=max(1, block_ms))
        except BaseException:
            self._client_id = None  # the connection may be replaced: take the id again
            raise
        found: dict[str, TailBatch] = {}
        for key, entries in streams_of(response):
            job_id = jobs.get(key)
            if job_id is None or not entries:
                continue
            events = [e for e in (parse_entry(job_id, i, f) for i, f in entries) if e]
            found[job_id] = TailBatch(text(entries[-1][0]), events)
        return found

    async def interrupt(self) -> bool:
        """Wake a waiting ``read``; ``False`` when none was waiting (or the id is unknown)."""
        client_id = self._client_id
        if client_id is None:
            return False
        try:
            return bool(await self._shared.client_unblock(client_id))
        except Exception as exc:  # the read then lasts its block_ms; nothing is lost
            # Said once per tail: an ACL without CLIENT UNBLOCK would fail every time.
            level = logging.DEBUG if self._warned else logging.WARNING
            self._warned = True
            log.log(level, "stream_tail_interrupt_failed", extra={"error": type(exc).__name__})
            return False

    async def close(self) -> None:
        """Give the tail's connection back to the pool."""
        await self._own.aclose(close_connection_pool=False)
