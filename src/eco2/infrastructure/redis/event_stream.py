"""``EventStreamPort`` on Redis Streams: one stream per job, appended atomically by a Lua script.

Keys, per job: ``{prefix}:job:{job_id}:events`` (the stream; fields ``seq``, ``type``, ``data``),
``{prefix}:job:{job_id}:seq`` (the ``seq`` counter) and, once it has ended,
``{prefix}:job:{job_id}:end`` (the terminal entry's id). ``publish`` is one script call, sent in
one round trip with whatever other appends are waiting (``group_commit``): the script increments
the counter, appends with ``MAXLEN ~``, and sets the expiry of the keys: on the first event a
backstop (a day), on a terminal event the shorter TTL, so ``seq`` order and entry-id order can
never disagree. A stream takes no append after its terminal event (the end marker says so):
exactly one terminal event, whichever delivery of a job or the API writes it first.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from eco2.application.ports.events import StreamTail
from eco2.domain.errors import StreamEndedError, UnavailableError
from eco2.domain.events import EventType, StreamEvent, entry_key
from eco2.infrastructure.redis.entries import parse_entry, stream_entries, text
from eco2.infrastructure.redis.group_commit import GroupCommit
from eco2.infrastructure.redis.stream_tail import RedisStreamTail

log = logging.getLogger(__name__)

# KEYS: stream, seq counter, end marker.
# ARGV: max_len, type, data, terminal ("1"/"0"), ttl s, max age s (a backstop until the end).
_PUBLISH_LUA = """
if redis.call('EXISTS', KEYS[3]) == 1 then
    return redis.error_reply('ENDED the stream already holds its terminal event')
end
local seq = redis.call('INCR', KEYS[2])
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*',
    'seq', seq, 'type', ARGV[2], 'data', ARGV[3])
if ARGV[4] == '1' then
    redis.call('EXPIRE', KEYS[1], ARGV[5])
    redis.call('EXPIRE', KEYS[2], ARGV[5])
    redis.call('SET', KEYS[3], id, 'EX', ARGV[5])
elseif seq == 1 then
    redis.call('EXPIRE', KEYS[1], ARGV[6])
    redis.call('EXPIRE', KEYS[2], ARGV[6])
end
return {seq, id}
"""


@contextmanager
def reachable(store: str = "event store") -> Iterator[None]:
    """Report Redis refusing, dropping or timing out a connection as ``UnavailableError``."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, ConnectionError) as exc:
        raise UnavailableError(store) from exc


class RedisEventStream:
    """Job event streams in Redis (``EventStreamPort``).

    Args:
        client: A ``redis.asyncio.Redis`` client, owned by this adapter from now on (``close``
            closes it). Its ``socket_timeout``, if any, must exceed a tail's longest ``block_ms``.
        prefix: Key namespace.
        ttl_after_terminal_s: Seconds a stream (and its counter) lives after a terminal event.
        max_len: Approximate bound on entries kept per stream (Redis trims whole nodes).
        max_age_s: Seconds a stream lives from its first event if no terminal event ever comes
            (its job was lost between the API's ``queued`` and the queue, say); at least
            ``ttl_after_terminal_s``.

    Raises:
        ValueError: when ``ttl_after_terminal_s`` or ``max_len`` is not positive.
    """

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = "eco2",
        ttl_after_terminal_s: int = 600,
        max_len: int = 10_000,
        max_age_s: int = 86_400,
    ) -> None:
        if ttl_after_terminal_s < 1:
            raise ValueError("ttl_after_terminal_s must be at least 1")
        if max_len < 1:
            raise ValueError("max_len must be at least 1")
        self._client = client
        self._prefix = prefix
        self._ttl = ttl_after_terminal_s
        self._max_len = max_len
        self._max_age = max(max_age_s, ttl_after_terminal_s)  # never shorter than after the end
        self._appends = GroupCommit(client, _PUBLISH_LUA)
        self.client = client
        """The Redis client (the worker's session lock shares it)."""

    def stream_key(self, job_id: str) -> str:
        """Return the Redis key of ``job_id``'s stream."""
        return f"{self._prefix}:job:{job_id}:events"

    def seq_key(self, job_id: str) -> str:
        """Return the Redis key of ``job_id``'s ``seq`` counter."""
        return f"{self._prefix}:job:{job_id}:seq"

    def end_key(self, job_id: str) -> str:
        """Return the Redis key marking that ``job_id``'s stream holds its terminal event."""
        return f"{self._prefix}:job:{job_id}:end"

    def job_keys(self, job_id: str) -> tuple[str, str, str]:
        """Every key of ``job_id``: its stream, ``seq`` counter and end marker."""
        return self.stream_key(job_id), self.seq_key(job_id), self.end_key(job_id)

    async def publish(
        self, job_id: str, event_type: EventType, payload: dict[str, Any]
    ) -> StreamEvent:
        """Append one event in a single round trip and return it with its ``seq`` and ``id``.

        A terminal event (``done``/``error``) also (re)sets the expiry of the stream and counter.

        Raises:
            TypeError: when ``payload`` is not JSON-serialisable.
            StreamEndedError: when the stream already holds its terminal event.
            UnavailableError: when Redis cannot be reached (the event may or may not be written).
        """
        data = json.dumps(payload, ensure_ascii=False)
        terminal = "1" if event_type.terminal else "0"
        try:
            with reachable():
                seq, entry_id = await self._appends.call(
                    list(self.job_keys(job_id)),
                    [self._max_len, event_type.value, data, terminal, self._ttl, self._max_age],
                )
        except ResponseError as exc:
            if str(exc).startswith("ENDED"):
                raise StreamEndedError(job_id) from None
            raise
        return StreamEvent(int(seq), event_type, payload, text(entry_id))

    async def read(
        self, job_id: str, after: str | None = None, *, count: int = 500
    ) -> list[StreamEvent]:
        """Return up to ``count`` events after entry id ``after`` (from the start when ``None``).

        Malformed entries are logged and skipped; reading continues past them, so they never
        stall a reader.

        Raises:
            ValueError: when ``after`` is not an entry id (``"<ms>-<n>"`` or ``"<ms>"``).
            UnavailableError: when Redis cannot be reached.
        """
        if after is not None:
            entry_key(after)  # raises ValueError on a malformed id
        key = self.stream_key(job_id)
        cursor = after or "0-0"
        while True:
            with reachable():
                response = await self._client.xread({key: cursor}, count=count)
            entries = stream_entries(response)
            events = [e for e in (parse_entry(job_id, raw_id, f) for raw_id, f in entries) if e]
            ids = [raw_id for raw_id, _ in entries if raw_id is not None]
            if events or not ids:
                return events
            # The whole batch was malformed: move past it rather than return an empty batch the
            # caller would re-read forever.
            cursor = text(ids[-1])

    def tail(self) -> StreamTail:
        """A follower of many streams on its own connection of this adapter's pool."""
        return RedisStreamTail(self._client, self.stream_key)

    async def exists(self, job_id: str) -> bool:
        """Whether the job's stream exists (it expires some time after its terminal event).

        Raises:
            UnavailableError: when Redis cannot be reached.
        """
        with reachable():
            return bool(await self._client.exists(self.stream_key(job_id)))

    async def close(self) -> None:
        """Close the appends' connection, then the Redis client and its connection pool."""
        await self._appends.close()
        await self._client.aclose()
