"""``SessionLockPort`` across workers: a Redis key per session, ``{prefix}:session:{id}:turn``.

The key holds the job id of the turn that holds the session and expires after ``ttl_s`` (longer
than a job may run), so a worker that died holding it blocks nobody for long. A job run again
takes over its own key at once (its earlier run is dead or being cancelled). Other jobs poll
until the key is free, for at most ``wait_s``; past that the turn runs anyway (a warning is
logged): a dead holder's key may outlive the patience of the user waiting, and a lost turn is
the lesser harm. Jobs of this process wait their turn in process first, so only one of them
polls Redis per session.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis

from eco2.domain.errors import UnavailableError
from eco2.infrastructure.memory.session_lock import InProcessSessionLock
from eco2.infrastructure.redis.event_stream import reachable

log = logging.getLogger(__name__)
_TAKE = """
local held = redis.call('GET', KEYS[1])
if (not held) or held == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_GIVE_BACK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_POLL_MAX_S = 0.25
_STORE = "session lock store"


class RedisSessionLock:
    """Turns of one session run one at a time across every worker sharing the Redis.

    Args:
        client: The Redis client (shared with the event streams).
        prefix: Key prefix (``ECO2_REDIS_PREFIX``).
        ttl_s: How long a held key lives; longer than a job's timeout plus its unwinding.
        wait_s: Longest wait for another job's turn before running without the lock.
        poll_s: First pause between attempts (doubling up to 0.25 s).
    """

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str,
        ttl_s: float,
        wait_s: float = 30.0,
        poll_s: float = 0.02,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._ttl_ms = max(1, round(ttl_s * 1000))
        self._wait_s = wait_s
        self._poll_s = poll_s
        self._local = InProcessSessionLock(wait_s)

    def key(self, session_id: str) -> str:
        """The Redis key of ``session_id``'s turn."""
        return f"{self._prefix}:session:{session_id}:turn"

    @asynccontextmanager
    async def hold(self, session_id: str, job_id: str) -> AsyncIterator[None]:
        """Wait for the session's turn (in this process, then across workers), then hold it.

        Raises:
            UnavailableError: Redis could not be reached while taking the turn.
        """
        async with self._local.hold(session_id, job_id):
            key = self.key(session_id)
            taken = await self._take(key, job_id)
            try:
                yield
            finally:
                if taken:
                    await asyncio.shield(self._give_back(key, job_id))

    async def _take(self, key: str, job_id: str) -> bool:
        loop = asyncio.get_running_loop()
        deadline, pause = loop.time() + self._wait_s, self._poll_s
        while True:
            with reachable(_STORE):
                taken = await self._client.eval(_TAKE, 1, key, job_id, self._ttl_ms)
            if taken:
                return True
            if loop.time() >= deadline:
                log.warning("session_turn_wait_exceeded", extra={"wait_s": self._wait_s})
                return False
            await asyncio.sleep(pause)
            pause = min(2 * pause, _POLL_MAX_S)

    async def _give_back(self, key: str, job_id: str) -> None:
        try:
            with reachable(_STORE):
                await self._client.eval(_GIVE_BACK, 1, key, job_id)
        except UnavailableError:  # it expires by itself
            log.warning("session_turn_release_failed", extra={"ttl_ms": self._ttl_ms})
