"""Distributed mode against the real Redis and RabbitMQ on localhost (DESIGN.md §2, §4)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from eco2.application.ports.jobs import JobMessage
from eco2.bootstrap.serving import run_worker
from eco2.infrastructure.llm.offline_models import OfflineAnswerModel
from eco2.pipeline.context import Ports
from tests.integration.distributed import (
    answer_after_last_retry,
    cleanup_distributed,
    collect,
    post_chat,
    require_distributed_services,
    running_api,
    settings_from,
    sse,
    unique_env,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def env() -> AsyncIterator[dict[str, str]]:
    values = unique_env()
    await require_distributed_services(values)
    yield values
    await cleanup_distributed(values)


@pytest.fixture
def api_url(env: dict[str, str]) -> Iterator[str]:
    with running_api(settings_from(env)) as url:
        yield url


async def start_worker(
    env: dict[str, str], ports: Ports
) -> tuple[asyncio.Task[None], asyncio.Event]:
    stop, started = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_worker(settings_from(env), stop, ports=ports, started=started))
    await asyncio.wait_for(started.wait(), 30)
    return task, stop


async def test_round_trip_and_resume_from_every_position(
    env: dict[str, str], api_url: str, offline_ports: Ports
) -> None:
    task, stop = await start_worker(env, offline_ports)
    try:
        job = post_chat(api_url, "소파 버리는 방법이랑 페트병 버리는 법")
        async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
            full = await collect(client, job["job_id"])
            assert full[0].event == "queued" and full[-1].event == "done"
            assert answer_after_last_retry(full) == full[-1].data["answer"]
            for i, cut in enumerate(full[:-1]):
                rest = await collect(client, job["job_id"], cut.id)
                assert [e.data["seq"] for e in rest] == [e.data["seq"] for e in full[i + 1 :]]
            status = (await client.get(f"/api/v1/chat/{job['job_id']}")).json()
            assert status["status"] == "done"
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
    finally:
        stop.set()
        await task


async def test_job_timeout_ends_with_error(
    env: dict[str, str], api_url: str, offline_ports: Ports
) -> None:
    env["ECO2_JOB_TIMEOUT_S"] = "0.5"
    slow = replace(offline_ports, answer_model=OfflineAnswerModel(tokens_per_s=10))
    task, stop = await start_worker(env, slow)
    try:
        job = post_chat(api_url, "페트병 어떻게 버려?")
        async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
            events = await collect(client, job["job_id"])
        assert events[-1].event == "error" and events[-1].data["code"] == "timeout"
        assert sum(1 for e in events if e.event in ("done", "error")) == 1
    finally:
        stop.set()
        await task


async def test_poison_job_is_dead_lettered_with_an_error_event(
    env: dict[str, str], api_url: str, offline_ports: Ports
) -> None:
    from redis.asyncio import Redis

    from eco2.infrastructure.rabbitmq.job_queue import RabbitJobQueue
    from eco2.infrastructure.redis.event_stream import RedisEventStream

    task, stop = await start_worker(env, offline_ports)
    queue = RabbitJobQueue(env["ECO2_AMQP_URL"], queue=env["ECO2_QUEUE"])
    events = RedisEventStream(
        Redis.from_url(env["ECO2_REDIS_URL"]), prefix=env["ECO2_REDIS_PREFIX"]
    )
    await queue.connect()
    try:
        await queue.enqueue(JobMessage("poison1", "0" * 31 + "1", {"nope": 1}, time.time(), {}))
        async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
            deadline = time.monotonic() + 20
            while not await events.exists("poison1"):
                assert time.monotonic() < deadline, "worker never answered the poison job"
                await asyncio.sleep(0.05)
            stream = await collect(client, "poison1")
        assert stream[-1].event == "error" and stream[-1].data["code"] == "invalid_job"
        deadline = time.monotonic() + 10
        while not [m for m in await queue.dead_letters() if m.job_id == "poison1"]:
            assert time.monotonic() < deadline, "poison job not dead-lettered"
            await asyncio.sleep(0.1)
    finally:
        await queue.close()
        await events.close()
        stop.set()
        await task


def spawn_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("ECO2_", "OPENAI_"))}
    full_env.update(env)
    full_env["ECO2_OFFLINE_TTFT_S"] = "0"
    full_env["ECO2_OFFLINE_TOKENS_PER_S"] = "40"
    full_env["ECO2_LOG_LEVEL"] = "INFO"
    with log.open("ab") as sink:  # the child keeps its own descriptor
        return subprocess.Popen(
            [str(Path(sys.executable).with_name("eco2")), "worker"],
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )


async def test_killed_worker_is_redelivered_and_the_client_ends_with_done(
    env: dict[str, str], api_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "workers.log"
    first = spawn_worker(env, log)
    second: subprocess.Popen[bytes] | None = None
    try:
        job = post_chat(api_url, "페트병 어떻게 버려?")
        seen: list[Any] = []
        async with httpx.AsyncClient(base_url=api_url, timeout=120) as client:
            async with asyncio.timeout(120):
                # Like EventSource: on a dropped connection, resume from the last id.
                while not seen or seen[-1].event not in ("done", "error"):
                    last = seen[-1].id if seen else None
                    async for event in sse(client, job["job_id"], last):
                        seen.append(event)
                        tokens = sum(1 for e in seen if e.event == "token")
                        if tokens == 3 and first.poll() is None:
                            first.send_signal(signal.SIGKILL)
                            first.wait()
                            second = spawn_worker(env, log)
        kinds = [e.event for e in seen]
        assert "retry" in kinds, (kinds, log.read_text())
        assert kinds[-1] == "done"
        assert answer_after_last_retry(seen) == seen[-1].data["answer"]
        assert "투명 페트병" in seen[-1].data["answer"]
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=60)


async def test_session_history_is_kept_in_postgresql(
    env: dict[str, str], api_url: str, offline_ports: Ports
) -> None:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    from tests.integration.distributed import postgres_schema

    async with postgres_schema() as url:
        env["ECO2_DATABASE_URL"] = url
        task, stop = await start_worker(env, offline_ports)
        try:
            async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
                for message in ("페트병 어떻게 버려?", "이코 소개해줘"):
                    job = post_chat(api_url, message, session_id="pg-session-1")
                    assert (await collect(client, job["job_id"]))[-1].event == "done"
            async with AsyncPostgresSaver.from_conn_string(url) as saver:
                saved = await saver.aget_tuple({"configurable": {"thread_id": "pg-session-1"}})
            assert saved is not None
            kinds = [m.type for m in saved.checkpoint["channel_values"]["messages"]]
            assert kinds == ["human", "ai", "human", "ai"]
        finally:
            stop.set()
            await task
