"""``SessionLockPort`` within one process (embedded mode, and a worker's own jobs).

One ``asyncio.Lock`` per session, kept only while some job holds or waits for it, so the map
never outgrows the jobs in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class InProcessSessionLock:
    """Turns of one session run one at a time within this process."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}  # session → (lock, users)

    def __len__(self) -> int:
        """Sessions some job holds or waits for."""
        return len(self._locks)

    @asynccontextmanager
    async def hold(self, session_id: str, job_id: str) -> AsyncIterator[None]:
        """Wait for the session's earlier turns in this process, then hold it."""
        lock, users = self._locks.get(session_id, (asyncio.Lock(), 0))
        self._locks[session_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[session_id]
            if users == 1:
                del self._locks[session_id]
            else:
                self._locks[session_id] = (lock, users - 1)
