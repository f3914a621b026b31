"""Conversation memory in memory (embedded mode, or a worker without ``ECO2_DATABASE_URL``).

LangGraph's ``InMemorySaver`` keeps every session it has seen for the life of the process; a
long-running ``eco2 serve`` would grow with each new visitor. This one keeps the most recently
active ``max_sessions`` sessions and forgets the least recently active beyond that, through the
saver's own ``delete_thread``. A forgotten session starts again without history, as it would once
a PostgreSQL checkpointer's rows were cleaned up.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata
from langgraph.checkpoint.memory import InMemorySaver

log = logging.getLogger(__name__)

MAX_SESSIONS = 1_000


class RecentSessionsSaver(InMemorySaver):
    """``InMemorySaver`` bounded to the ``max_sessions`` most recently saved sessions.

    Args:
        max_sessions: Sessions (LangGraph threads) kept; the least recently saved go first.
        **kwargs: Passed on to ``InMemorySaver``.
    """

    def __init__(self, max_sessions: int = MAX_SESSIONS, **kwargs: Any) -> None:
        if max_sessions < 1:
            raise ValueError("max_sessions must be >= 1")
        super().__init__(**kwargs)
        self.max_sessions = max_sessions
        self._recent: OrderedDict[str, None] = OrderedDict()

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Save the checkpoint, then forget the least recently active sessions over the bound."""
        saved = super().put(config, checkpoint, metadata, new_versions)
        thread_id = str(config["configurable"]["thread_id"])
        self._recent[thread_id] = None
        self._recent.move_to_end(thread_id)
        while len(self._recent) > self.max_sessions:
            oldest, _ = self._recent.popitem(last=False)
            self.delete_thread(oldest)
            log.info("session_memory_evicted", extra={"max_sessions": self.max_sessions})
        return saved

    def delete_thread(self, thread_id: str) -> None:
        """Forget a session (also when LangGraph or a caller deletes it)."""
        self._recent.pop(str(thread_id), None)
        super().delete_thread(thread_id)
