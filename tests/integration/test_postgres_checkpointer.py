"""The worker's PostgreSQL checkpointer: queries side by side, time limits, one setup at a time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from langgraph.checkpoint.base import empty_checkpoint

from eco2.infrastructure.postgres_checkpointer import pooled_checkpointer
from tests.integration.distributed import postgres_schema


@pytest.fixture
async def schema_url() -> AsyncIterator[str]:
    """A URL whose search_path is a fresh schema of this test's own (dropped afterwards)."""
    async with postgres_schema() as url:
        yield url


def thread(name: str) -> Any:
    return {"configurable": {"thread_id": name, "checkpoint_ns": ""}}


async def test_one_sessions_blocked_save_does_not_hold_up_another_sessions_read(
    schema_url: str,
) -> None:
    async with pooled_checkpointer(schema_url) as saver:
        checkpoint = empty_checkpoint()
        # Another transaction writes session A's checkpoint row and keeps it uncommitted.
        async with await psycopg.AsyncConnection.connect(schema_url) as blocker:
            await blocker.execute(
                "INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, checkpoint,"
                " metadata) VALUES ('A', '', %s, '{}'::jsonb, '{}'::jsonb)",
                (checkpoint["id"],),
            )
            save_a = asyncio.create_task(saver.aput(thread("A"), checkpoint, {}, {}))
            await asyncio.sleep(0.3)
            assert not save_a.done()  # waiting for the row lock
            assert await asyncio.wait_for(saver.aget_tuple(thread("B")), 2) is None
            await blocker.rollback()
        await save_a
        assert await saver.aget_tuple(thread("A")) is not None


async def test_connections_get_time_limits_unless_the_url_sets_them(schema_url: str) -> None:
    async with (
        pooled_checkpointer(schema_url) as saver,
        saver.conn.connection() as connection,  # type: ignore[union-attr]
    ):
        cursor = await connection.execute("SHOW statement_timeout")
        assert (await cursor.fetchone())["statement_timeout"] == "10s"
        cursor = await connection.execute("SHOW lock_timeout")
        assert (await cursor.fetchone())["lock_timeout"] == "5s"
    # Set in the URL, in any of libpq's spellings: kept. A name that only contains another's
    # (deadlock_timeout) does not count as setting it.
    own = schema_url + "%20-c%20statement_timeout%3D1234%20--lock-timeout%3D2s"
    own += "%20-cdeadlock_timeout%3D3s"
    async with (
        pooled_checkpointer(own) as saver,
        saver.conn.connection() as connection,  # type: ignore[union-attr]
    ):
        for name, value in (("statement_timeout", "1234ms"), ("lock_timeout", "2s")):
            cursor = await connection.execute(f"SHOW {name}")
            assert (await cursor.fetchone())[name] == value
    mixed_case = schema_url + "%20-cStatement_Timeout%3D777"  # setting names ignore case
    async with (
        pooled_checkpointer(mixed_case) as saver,
        saver.conn.connection() as connection,  # type: ignore[union-attr]
    ):
        cursor = await connection.execute("SHOW statement_timeout")
        assert (await cursor.fetchone())["statement_timeout"] == "777ms"
    other = schema_url + "%20-cdeadlock_timeout%3D3s"
    async with (
        pooled_checkpointer(other) as saver,
        saver.conn.connection() as connection,  # type: ignore[union-attr]
    ):
        cursor = await connection.execute("SHOW lock_timeout")
        assert (await cursor.fetchone())["lock_timeout"] == "5s"


async def test_workers_starting_at_once_on_an_empty_database_all_start(schema_url: str) -> None:
    async def start() -> bool:
        async with pooled_checkpointer(schema_url) as saver:
            return await saver.aget_tuple(thread("x")) is None

    assert await asyncio.gather(*(start() for _ in range(3))) == [True, True, True]
