"""Conversation memory in PostgreSQL: LangGraph's saver on a pool, bounded in time.

A pool, not one connection, so that a connection lost to a PostgreSQL restart is replaced
(checked on checkout) instead of failing every later job. LangGraph's ``AsyncPostgresSaver``
holds one lock around every query, which is right for one shared connection and wrong for a
pool: each checkout is a connection of its own, and with the lock one slow or locked query
(another session's save) held up every session's read and save. Every connection also gets
time limits, so a stalled or unreachable database fails a checkpoint read or save within
seconds instead of holding the job for as long as it stalls; whatever the URL (or
``PGOPTIONS``) sets itself wins.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

CONNECTIONS = 4  # a read and a save per turn, both short: a few cover 32 jobs in flight
CONNECT_DEFAULTS: dict[str, Any] = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}
SESSION_DEFAULTS = {"statement_timeout": "10s", "lock_timeout": "5s"}
SETUP_LOCK = 0x6563_6F32  # pg_advisory_lock key: one worker at a time creates the tables
SETUP_LIMIT = "2min"  # statement and lock limit of the table setup
SETUP_WAIT_S = 150  # a worker waits this long for another's setup (longer than its limit)


class _Unlocked(asyncio.Lock):
    """The saver's lock, made a no-op: the pool gives each query a connection of its own."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


class PooledSaver(AsyncPostgresSaver):
    """``AsyncPostgresSaver`` on a pool, whose queries run side by side."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        super().__init__(conn=pool)
        self.lock = _Unlocked()


def _option_names(options: str) -> set[str]:
    """The settings a libpq ``options`` string sets (``-c name=value``, ``-cname=value``,
    ``--name=value``; dashes in names are underscores)."""
    names, words = set(), options.split()
    for index, word in enumerate(words):
        if word == "-c" and index + 1 < len(words):
            word = words[index + 1]
        elif word.startswith("-c") or word.startswith("--"):
            word = word[2:]
        else:
            continue
        names.add(word.partition("=")[0].replace("-", "_").lower())  # names ignore case
    return names


async def _take_setup_lock(connection: Any) -> None:
    """Wait for the setup lock by polling: a statement left waiting for it would hold a
    snapshot, and the setup's ``CREATE INDEX CONCURRENTLY`` waits for every older snapshot."""
    deadline = asyncio.get_running_loop().time() + SETUP_WAIT_S
    while True:
        cursor = await connection.execute("SELECT pg_try_advisory_lock(%s) AS ok", (SETUP_LOCK,))
        if (await cursor.fetchone())["ok"]:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"another worker's checkpoint setup took over {SETUP_WAIT_S} s")
        await asyncio.sleep(0.2)


@asynccontextmanager
async def pooled_checkpointer(conninfo: str) -> AsyncIterator[PooledSaver]:
    """Open the pool, create the saver's tables (one worker at a time), yield the saver.

    Args:
        conninfo: A PostgreSQL URL or key=value string (``ECO2_DATABASE_URL``).
    """
    given = conninfo_to_dict(conninfo)
    # The settings the saver's own factory uses, then the time limits the URL leaves unset.
    kwargs: dict[str, Any] = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}
    kwargs |= {k: v for k, v in CONNECT_DEFAULTS.items() if k not in given}
    options = given["options"] if "options" in given else os.environ.get("PGOPTIONS", "")
    named = _option_names(str(options))
    session = [f"SET {k} = '{v}'" for k, v in SESSION_DEFAULTS.items() if k not in named]

    async def configure(connection: Any) -> None:
        for statement in session:
            await connection.execute(statement)

    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        conninfo,
        min_size=1,
        max_size=CONNECTIONS,
        kwargs=kwargs,
        configure=configure,
        check=AsyncConnectionPool.check_connection,
        open=False,
    )
    await pool.open(wait=True, timeout=10)
    try:
        async with pool.connection() as connection:  # workers starting at once would collide
            await _take_setup_lock(connection)
            try:
                # Longer limits than a job's: a migration cut short (an index built concurrently
                # waits for every older transaction) could be left half-done, then recorded done.
                for name in SESSION_DEFAULTS:
                    await connection.execute(f"SET {name} = '{SETUP_LIMIT}'")
                await AsyncPostgresSaver(conn=connection).setup()
            finally:
                # A broken connection releases the lock with its session; the error that broke
                # it is the one worth seeing.
                with contextlib.suppress(psycopg.OperationalError):
                    await connection.execute("SELECT pg_advisory_unlock(%s)", (SETUP_LOCK,))
                    for name in SESSION_DEFAULTS:
                        await connection.execute(f"RESET {name}")
                    await configure(connection)
        yield PooledSaver(pool)
    finally:
        await pool.close()
