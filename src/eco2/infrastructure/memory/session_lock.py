"""``SessionLockPort`` within one process (embedded mode, and a worker's own jobs).

One ``asyncio.Lock`` per session, kept only while some job holds or waits for it, so the map
never outgrows the jobs in flight. A turn waits at most ``wait_s`` for the one before it (as
across workers), then runs anyway with a warning: the wait counts against the job's timeout,
and a lost turn is the lesser harm than a failed one. A job run again in this process waits for
its own earlier run too (it may still be saving its checkpoint).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

log = logging.getLogger(__name__)


class InProcessSessionLock:
    """Turns of one session run one at a time within this process.

    Args:
        wait_s: Longest wait for the session's earlier turn before running anyway.
    """

    def __init__(self, wait_s: float = 30.0) -> None:
        self._wait_s = wait_s
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}  # session → (lock, users)

    def __len__(self) -> int:
        """Sessions some job holds or waits for."""
        return len(self._locks)

    @asynccontextmanager
    async def hold(self, session_id: str, job_id: str) -> AsyncIterator[None]:
        """Wait (at most ``wait_s``) for the session's earlier turns here, then hold it."""
        lock, users = self._locks.get(session_id, (asyncio.Lock(), 0))
        self._locks[session_id] = (lock, users + 1)
        taken = False
        try:
            try:
                async with asyncio.timeout(self._wait_s):
                    taken = await lock.acquire()
            except TimeoutError:
                log.warning("session_turn_wait_exceeded", extra={"wait_s": self._wait_s})
            yield
        finally:
            if taken:
                lock.release()
            lock, users = self._locks[session_id]
            if users == 1:
                del self._locks[session_id]
            else:
                self._locks[session_id] = (lock, users - 1)
