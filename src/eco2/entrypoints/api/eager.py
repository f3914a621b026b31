"""Run a coroutine in the caller's task until it first has to wait, and only then in a task.

The fan-out writes the same frames to a thousand client connections from one reader task. A
write to a connection whose socket accepts it completes without waiting, so starting each in
the reader costs one call; only a write that must wait (the socket's buffer is full, the
server pauses writing) is handed to a task of its own, so one slow client never holds up the
reader. This is what ``asyncio.eager_task_factory`` does from Python 3.12 on; the project
supports 3.11.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any


def start(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
    """Run ``coro`` now; return ``None`` if it finished, else the task that finishes it.

    Raises:
        Exception: whatever ``coro`` raised before its first wait.
    """
    try:
        waiting_on = coro.send(None)
    except StopIteration:
        return None
    return asyncio.get_running_loop().create_task(_finish(coro, waiting_on))


async def _finish(coro: Coroutine[Any, Any, None], waiting_on: Any) -> None:
    await _Resumed(coro, waiting_on)


class _Resumed:
    """Awaitable that passes a started coroutine's waits to the task awaiting it."""

    __slots__ = ("_coro", "_waiting_on")

    def __init__(self, coro: Coroutine[Any, Any, None], waiting_on: Any) -> None:
        self._coro, self._waiting_on = coro, waiting_on

    def __await__(self) -> Generator[Any, Any, None]:
        coro, waiting_on = self._coro, self._waiting_on
        while True:
            try:
                value = yield waiting_on  # the task waits on what the coroutine waits on
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # cancellation included: the coroutine sees it
                try:
                    waiting_on = coro.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    waiting_on = coro.send(value)
                except StopIteration:
                    return
