"""Helpers for distributed-mode tests: settings on unique names, a live API, SSE clients."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from eco2.bootstrap.serving import build_api
from eco2.entrypoints.api.app import create_app
from eco2.settings import ServingSettings, Settings, TelemetrySettings
from tests.fakes.server import serving
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
