"""The session lock port: the turns of one session run one at a time.

A session's history is one line of checkpoints: two turns running at once would both start
from the same checkpoint, and whichever saved last would drop the other from the history.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol


class SessionLockPort(Protocol):
    """Holds a session for the length of one job's turn."""

    def hold(self, session_id: str, job_id: str) -> AbstractAsyncContextManager[None]:
        """Wait until no other job's turn holds ``session_id``, and hold it for the block.

        The wait is bounded (the turn then runs anyway, with a warning) and counts against the
        job's timeout. Across workers, a job run again takes over its own earlier hold.

        Raises:
            UnavailableError: The lock's store could not be reached.
        """
        ...
