"""Helpers for distributed-mode tests: settings on unique names, a live API, SSE clients."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx

from eco2.bootstrap.serving import build_api
from eco2.entrypoints.api.app import create_app
from eco2.settings import ServingSettings, Settings, TelemetrySettings
from tests.fakes.server import serving
from tests.integration.services import require_service
from tests.sse import SseEvent

REDIS_URL = os.environ.get("ECO2_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AMQP_URL = os.environ.get("ECO2_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
DATABASE_URL = os.environ.get("ECO2_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def unique_env(**extra: str) -> dict[str, str]:
    """Environment for one test: its own Redis prefix and queue (cleaned up by the fixture)."""
    tag = uuid.uuid4().hex[:10]
    return {
        "ECO2_REDIS_URL": REDIS_URL,
        "ECO2_REDIS_PREFIX": f"eco2test{tag}",
        "ECO2_AMQP_URL": AMQP_URL,
        "ECO2_QUEUE": f"eco2test.{tag}",
        "ECO2_COALESCE_DELAY_S": "0.005",
        "ECO2_WORKER_METRICS_PORT": "0",
        **extra,
    }


def settings_from(env: dict[str, str]) -> Settings:
    """Settings as a process with ``env`` would read them."""
    return Settings(
        serving=ServingSettings(**env),  # type: ignore[arg-type]
        telemetry=TelemetrySettings(**env),  # type: ignore[arg-type]
    )


@contextmanager
def running_api(settings: Settings) -> Iterator[str]:
    """Serve the distributed API on a free loopback port; yield its base URL."""
    with serving(create_app(build_api(settings)), "API") as url:
        yield url


async def sse(
    client: httpx.AsyncClient, job_id: str, last_id: str | None = None, limit: int | None = None
) -> AsyncIterator[SseEvent]:
    """Stream a job's SSE events; stop after ``limit`` events (a client disconnecting)."""
    headers = {"Last-Event-ID": last_id} if last_id else {}
    async with client.stream("GET", f"/api/v1/chat/{job_id}/events", headers=headers) as response:
        assert response.status_code == 200
        fields: dict[str, str] = {}
        seen = 0
        async for line in response.aiter_lines():
            if line == "":
                if "event" in fields:
                    yield SseEvent(
                        fields.get("id", ""), fields["event"], json.loads(fields["data"])
                    )
                    seen += 1
                    if limit is not None and seen >= limit:
                        return
                fields = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")


async def collect(
    client: httpx.AsyncClient, job_id: str, last_id: str | None = None
) -> list[SseEvent]:
    """All events after ``last_id`` to the terminal one (with a generous timeout)."""
    async with asyncio.timeout(120):
        return [e async for e in sse(client, job_id, last_id)]


def answer_after_last_retry(events: list[SseEvent]) -> str:
    """The DESIGN.md §4 invariant's left side."""
    retries = [i for i, e in enumerate(events) if e.event == "retry"]
    start = retries[-1] + 1 if retries else 0
    return "".join(e.data["text"] for e in events[start:] if e.event == "token")


def post_chat(base_url: str, message: str, **extra: Any) -> dict[str, Any]:
    """POST a chat job synchronously; return the 202 body."""
    response = httpx.post(f"{base_url}/api/v1/chat", json={"message": message, **extra}, timeout=10)
    assert response.status_code == 202, response.text
    return dict(response.json())


async def require_distributed_services(env: dict[str, str]) -> None:
    """Skip (or, under CI=true, fail) unless Redis and RabbitMQ answer."""
    import aio_pika
    from redis.asyncio import Redis

    redis = Redis.from_url(env["ECO2_REDIS_URL"])
    try:
        await asyncio.wait_for(redis.ping(), 3)
        ok, detail = True, ""
    except Exception as exc:
        ok, detail = False, f"{env['ECO2_REDIS_URL']}: {exc!r}"
    finally:
        await redis.aclose()
    require_service("Redis", ok, detail)
    try:
        connection = await asyncio.wait_for(aio_pika.connect(env["ECO2_AMQP_URL"]), 5)
        await connection.close()
        ok, detail = True, ""
    except Exception as exc:
        ok, detail = False, f"RabbitMQ: {exc!r}"
    require_service("RabbitMQ", ok, detail)


async def cleanup_distributed(env: dict[str, str]) -> None:
    """Delete the test's Redis keys and RabbitMQ queues/exchange."""
    import aio_pika
    from redis.asyncio import Redis

    redis = Redis.from_url(env["ECO2_REDIS_URL"])
    async for key in redis.scan_iter(match=f"{env['ECO2_REDIS_PREFIX']}:*"):
        await redis.delete(key)
    await redis.aclose()
    connection = await aio_pika.connect(env["ECO2_AMQP_URL"])
    async with connection:
        channel = await connection.channel()
        for name in (env["ECO2_QUEUE"], f"{env['ECO2_QUEUE']}.dead"):
            await channel.queue_delete(name)
        for name in (f"{env['ECO2_QUEUE']}.dead",):
            try:
                await channel.exchange_delete(name)
            except Exception:
                channel = await connection.channel()


@asynccontextmanager
async def postgres_schema() -> AsyncIterator[str]:
    """A database URL whose search_path is a fresh schema of its own, dropped afterwards."""
    import psycopg

    schema = f"eco2test_{uuid.uuid4().hex[:10]}"
    try:
        admin = await psycopg.AsyncConnection.connect(DATABASE_URL, autocommit=True)
    except psycopg.OperationalError as exc:
        require_service("PostgreSQL", False, f"{DATABASE_URL.split('@')[-1]}: {exc}")
        raise
    async with admin:
        await admin.execute(f"CREATE SCHEMA {schema}")
        try:
            yield f"{DATABASE_URL}?options=-csearch_path%3D{schema}"
        finally:
            await admin.execute(f"DROP SCHEMA {schema} CASCADE")
