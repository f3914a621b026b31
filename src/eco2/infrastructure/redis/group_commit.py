"""Group commit of stream appends: concurrent ``publish`` calls share one pipelined round trip.

A worker streams many jobs at once, each a few dozen appends a second. Sent one by one, every
append pays a whole client round trip in CPU (connection checkout, encoding, a socket write and
read, reply parsing). Here appends queue up while a round trip is in flight and the next one
carries all of them as one pipeline of ``EVALSHA`` calls, so the cost per append falls as load
rises, while an append on an idle worker still goes out at once. Appends of one job keep their
order (each job's publisher awaits its append before the next), and every caller gets its own
reply or its own error.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import Any

from hiredis import pack_command
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

_MAX_BATCH = 256  # appends per round trip; the rest wait for the next one
_ROUND_TRIP_TIMEOUT_S = 30.0  # when the client's pool sets no socket time-out
CLIENT_NAME = "eco2-appends"  # how the writer's connection shows in CLIENT LIST


@dataclass(slots=True)
class _Append:
    keys: list[str]
    args: list[Any]
    reply: asyncio.Future[Any]


class GroupCommit:
    """Runs one Lua script for many callers, batching the calls that arrive together.

    Args:
        client: The Redis client; the writer opens one connection like its pool's own, kept
            for every round trip (``close`` closes it), and uses the pool's socket time-out
            as the deadline of a whole round trip.
        script: The Lua source; it is loaded on first use and again if Redis forgot it.
    """

    def __init__(self, client: Redis, script: str) -> None:
        self._client = client
        self._script = script
        self._sha = hashlib.sha1(script.encode()).hexdigest()
        self._queue: list[_Append] = []
        self._writer: asyncio.Task[None] | None = None
        self._connection: AbstractConnection | None = None
        timeout = client.connection_pool.connection_kwargs.get("socket_timeout")
        self._timeout_s = float(timeout) if timeout else _ROUND_TRIP_TIMEOUT_S

    async def call(self, keys: list[str], args: list[Any]) -> Any:
        """Run the script with ``keys`` and ``args``; return its reply.

        Raises:
            redis.exceptions.RedisError: what Redis answered for this call, or the round
                trip's connection or time-out error.
        """
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append(_Append(keys, args, reply))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write(), name="redis-group-commit")
        return await reply

    async def _write(self) -> None:
        batch: list[_Append] = []
        try:
            while self._queue:
                await asyncio.sleep(0)  # let appends made ready in this loop turn join in
                batch, self._queue = self._queue[:_MAX_BATCH], self._queue[_MAX_BATCH:]
                try:
                    await self._round_trip(batch)
                except Exception as exc:  # the connection failed: each caller gets the error
                    _fail(batch, exc)
        except asyncio.CancelledError:  # shutting down: nobody waits forever
            _fail([*batch, *self._queue], ConnectionError("the Redis writer was stopped"))
            self._queue = []
            raise
        finally:
            self._writer = None

    async def _round_trip(self, batch: list[_Append]) -> None:
        replies = await self._pipeline(batch)
        if any(isinstance(r, NoScriptError) for r in replies):  # Redis restarted or flushed
            await self._client.script_load(self._script)
            retry = [item for item, r in zip(batch, replies, strict=True) if _missing(r)]
            for item, reply in zip(retry, await self._pipeline(retry), strict=True):
                _settle(item, reply)
            batch = [item for item, r in zip(batch, replies, strict=True) if not _missing(r)]
            replies = [r for r in replies if not _missing(r)]
        for item, reply in zip(batch, replies, strict=True):
            _settle(item, reply)

    async def _pipeline(self, batch: list[_Append]) -> list[Any]:
        """Send every call of ``batch`` in one write; return each reply or its error reply.

        The commands are packed by hiredis in one go, which costs a fraction of the client's
        per-command packing; replies are read in order, an error reply being one item. The
        writer's own connection carries no socket time-out; one deadline covers the round trip.
        """
        payload = b"".join(
            pack_command(("EVALSHA", self._sha, len(item.keys), *item.keys, *item.args))
            for item in batch
        )
        connection = self._connection
        if connection is None:
            pool = self._client.connection_pool
            kwargs = {**pool.connection_kwargs, "socket_timeout": None, "client_name": CLIENT_NAME}
            connection = self._connection = pool.connection_class(**kwargs)
        try:
            async with asyncio.timeout(self._timeout_s):
                await connection.send_packed_command(payload, check_health=False)
                replies: list[Any] = []
                for _ in batch:
                    try:
                        replies.append(await connection.read_response())
                    except ResponseError as exc:  # a whole reply was read: still in step
                        replies.append(exc)
            return replies
        except TimeoutError as exc:  # a hung Redis: the same error a read's socket time-out gives
            await connection.disconnect(nowait=True)
            raise RedisTimeoutError(f"no reply from Redis within {self._timeout_s:g} s") from exc
        except BaseException:
            # Replies may be left unread on this connection: start the next batch on a new one.
            await connection.disconnect(nowait=True)
            raise

    async def close(self) -> None:
        """Close the writer's connection (after its last round trip)."""
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)
        if self._connection is not None:
            await self._connection.disconnect()
            self._connection = None


def _missing(reply: Any) -> bool:
    return isinstance(reply, NoScriptError)


def _settle(item: _Append, reply: Any) -> None:
    if item.reply.done():  # its caller was cancelled meanwhile
        return
    if isinstance(reply, BaseException):
        item.reply.set_exception(reply)
    else:
        item.reply.set_result(reply)


def _fail(batch: list[_Append], exc: BaseException) -> None:
    for item in batch:
        if not item.reply.done():
            item.reply.set_exception(exc)
