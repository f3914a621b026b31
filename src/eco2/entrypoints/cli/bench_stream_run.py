"""Runs ``eco2 bench stream``: checks the services, starts the API process, runs each design
(clients process + producers here), and cleans up keys, queues and processes whatever happens.

Every run uses its own Redis key prefix and RabbitMQ queue name, both removed at the end — also
after an error, a timeout or Ctrl-C (the clean-up runs from ``finally`` blocks).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
import uuid
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from eco2.domain.events import EventType, StreamEvent
from eco2.entrypoints.cli.bench_stream_common import machine_cpu_s, summarise
from eco2.entrypoints.cli.bench_stream_floor import write_floor_us
from eco2.entrypoints.cli.bench_stream_procs import ApiGroup, BenchError, ClientsProcess
from eco2.entrypoints.cli.bench_stream_producers import (
    MODEL_ONLY,
    PER_TOKEN,
    ProducerPlan,
    run_producers,
)
from eco2.entrypoints.cli.bench_stream_services import check_services, cleanup, redis_cpu_s

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from eco2.infrastructure.redis.event_stream import RedisEventStream

log = logging.getLogger(__name__)

_TTL_S = 300  # streams left behind by a hard kill still expire
_CONNECT_TIMEOUT_S = 120.0
_REDIS_CONNECTIONS = 256
_FLOOR_MIN_CLIENTS = 100  # clients per job from which the bare socket write is measured
_FLOOR_MAX_SOCKETS = 1000


@dataclass(frozen=True)
class RunConfig:
    """One scenario: what to run and how.

    Attributes:
        scenario: Its name (``custom`` when no preset was chosen).
        jobs: Concurrent jobs (streams).
        tokens: Tokens per job.
        rate: Tokens per second per job.
        clients_per_job: SSE clients following each job.
        designs: ``coalesced`` and/or ``per-token``, run in this order.
        flush_tokens: The coalescer's ``max_tokens``.
        flush_ms: The coalescer's ``max_delay_s``, in milliseconds.
        api_processes: API processes serving the clients (replicas; clients round-robin).
    """

    scenario: str
    jobs: int
    tokens: int
    rate: float
    clients_per_job: int
    designs: tuple[str, ...]
    flush_tokens: int = 16
    flush_ms: float = 10.0
    api_processes: int = 1

    @property
    def duration_s(self) -> float:
        """How long producing takes at the nominal rate."""
        return self.tokens / self.rate


def run_names(tag: str) -> tuple[str, str]:
    """The Redis key prefix and the RabbitMQ queue name of run ``tag``."""
    return f"eco2bench{tag}", f"eco2bench.{tag}"


async def run_scenarios(
    configs: list[RunConfig], redis_url: str, amqp_url: str, tag: str
) -> list[dict[str, Any]]:
    """Run every scenario against one API process; return one result per scenario.

    Args:
        configs: The scenarios, run in order.
        redis_url: Redis for the streams.
        amqp_url: RabbitMQ for the API's (unused) job queue.
        tag: Unique name of this run (see :func:`run_names`); everything named by it is removed.

    Raises:
        BenchError: when a service is unreachable or a run cannot complete.
    """
    from redis.asyncio import BlockingConnectionPool, Redis

    from eco2.infrastructure.redis.event_stream import RedisEventStream
    from eco2.infrastructure.redis.packing import pack_with_hiredis

    # SIGTERM cancels the run like Ctrl-C does, so the clean-up below still runs.
    loop, task = asyncio.get_running_loop(), asyncio.current_task()
    if task is not None:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
    await check_services(redis_url, amqp_url)
    prefix, queue = run_names(tag)
    # Like a worker's: publishes wait for a free connection rather than fail past the bound.
    pool = BlockingConnectionPool.from_url(
        redis_url, max_connections=_REDIS_CONNECTIONS, timeout=30, socket_timeout=30
    )
    pack_with_hiredis(pool)
    redis = Redis.from_pool(pool)  # closing the client closes the pool
    stream = RedisEventStream(redis, prefix=prefix, ttl_after_terminal_s=_TTL_S)
    apis: dict[int, ApiGroup] = {}
    env = {
        "ECO2_REDIS_URL": redis_url,
        "ECO2_REDIS_PREFIX": prefix,
        "ECO2_AMQP_URL": amqp_url,
        "ECO2_QUEUE": queue,
        "ECO2_STREAM_TTL_S": str(_TTL_S),
    }
    try:
        results = []
        for config in configs:
            api = apis.get(config.api_processes)
            if api is None:
                api = apis[config.api_processes] = await ApiGroup.start(env, config.api_processes)
            result: dict[str, Any] = {"scenario": config.scenario, "config": asdict(config)}
            if config.clients_per_job >= _FLOOR_MIN_CLIENTS:  # a fan-out: what sends cost here
                sockets = min(config.jobs * config.clients_per_job, _FLOOR_MAX_SOCKETS)
                result["write_floor_us"] = await write_floor_us(sockets)
                result["write_floor_connections"] = sockets
            if len(config.designs) > 1:
                result[MODEL_ONLY] = await _model_only(config)
            for design in config.designs:
                result[design] = await _run_design(config, design, stream, redis, api)
            results.append(result)
        return results
    finally:
        for group in apis.values():
            await group.stop()
        await cleanup(redis, prefix, amqp_url, queue)
        await stream.close()


async def _run_design(
    config: RunConfig, design: str, stream: RedisEventStream, redis: Redis, api: ApiGroup
) -> dict[str, Any]:
    run = uuid.uuid4().hex[:6]
    job_ids = [f"bench-{design}-{run}-{k}" for k in range(config.jobs)]
    keys = [key for j in job_ids for key in stream.job_keys(j)]
    try:
        for k in range(0, len(job_ids), 100):
            await asyncio.gather(
                *(stream.publish(j, EventType.QUEUED, {"job_id": j}) for j in job_ids[k : k + 100])
            )
        # Should this process be killed outright, the unfinished streams expire anyway.
        async with redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.expire(key, int(_TTL_S + 3 * config.duration_s))
            await pipe.execute()
        return await _measure(config, design, job_ids, stream, redis, api)
    except BenchError:
        raise
    except Exception as exc:
        log.debug("bench_run_failed", exc_info=True)
        raise BenchError(f"the {design} run failed: {type(exc).__name__}: {exc}") from None
    finally:
        try:
            for k in range(0, len(keys), 500):
                await redis.unlink(*keys[k : k + 500])
        except Exception as exc:  # the final clean-up tries again by prefix
            log.debug("bench_unlink_failed", extra={"error": type(exc).__name__})


async def _model_only(config: RunConfig) -> dict[str, Any]:
    """The producers' own cost: the same paced tokens, written nowhere."""
    plan = ProducerPlan(config.tokens, config.rate, 1, 0.0, time.time_ns())
    job_ids = [f"model-{k}" for k in range(config.jobs)]
    stats = await run_producers(_Nowhere(), job_ids, MODEL_ONLY, plan)
    return {
        "worker_cpu_s": round(stats.cpu_s, 3),
        "worker_cpu_us_per_token": round(stats.cpu_s / stats.tokens * 1e6, 2),
    }


class _Nowhere:
    """A sink that drops everything (the model-only run does not even call it)."""

    async def publish(
        self, job_id: str, event_type: EventType, payload: dict[str, Any]
    ) -> StreamEvent:
        return StreamEvent(0, event_type, payload)


def _root(exc: BaseException) -> BaseException:
    """The first leaf of an exception group (a failed producer of the TaskGroup)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


async def _measure(
    config: RunConfig,
    design: str,
    job_ids: list[str],
    stream: RedisEventStream,
    redis: Redis,
    api: ApiGroup,
) -> dict[str, Any]:
    log_offsets = api.offsets()
    epoch_ns = time.time_ns()
    plan = ProducerPlan(
        config.tokens, config.rate, config.flush_tokens, config.flush_ms / 1000, epoch_ns
    )
    timeout_s = _CONNECT_TIMEOUT_S + 3 * config.duration_s + 60
    clients = await ClientsProcess.start(
        {
            "base_urls": api.base_urls,
            "jobs": job_ids,
            "clients_per_job": config.clients_per_job,
            "tokens": config.tokens,
            "accumulated": design == PER_TOKEN,
            "epoch_ns": epoch_ns,
            "timeout_s": timeout_s,
        }
    )
    try:
        await clients.receive("ready", _CONNECT_TIMEOUT_S)
        redis_cpu, api_cpu = await redis_cpu_s(redis), api.cpu_s()
        machine_cpu, window = machine_cpu_s(), time.perf_counter()
        started_ns = time.time_ns()
        try:
            stats = await asyncio.wait_for(
                run_producers(stream, job_ids, design, plan), 2 * config.duration_s + 60
            )
        except TimeoutError:
            raise BenchError("the producers did not finish in time") from None
        except Exception as exc:
            cause = _root(exc)
            raise BenchError(f"producing failed: {type(cause).__name__}: {cause}") from None
        seen = await clients.receive("result", timeout_s)
        api_after = api.cpu_s()
        redis_after = await redis_cpu_s(redis)
        machine_after, window = machine_cpu_s(), time.perf_counter() - window
    finally:
        await clients.stop()
    problems, samples = api.problems(log_offsets)
    last_done_ns = seen.pop("last_done_ns")
    delivered_s = (last_done_ns - started_ns) / 1e9 if last_done_ns > started_ns else None
    return {
        "tokens": stats.tokens,
        "entries": stats.entries,
        "tokens_per_entry": round(stats.tokens / max(1, stats.entries), 2),
        "run_s": round(stats.wall_s, 3),
        "tokens_per_s": round(stats.tokens / stats.wall_s, 1),
        "worker_cpu_s": round(stats.cpu_s, 3),
        "worker_cpu_us_per_token": round(stats.cpu_s / stats.tokens * 1e6, 2),
        "tokens_per_worker_cpu_s": round(stats.tokens / max(stats.cpu_s, 1e-9), 1),
        "emission_ms": summarise(stats.emission_ms),
        **{k: v for k, v in seen.items() if k not in ("cpu_s", "tokens", "entries")},
        "deliveries": seen["tokens"],
        "entries_delivered": seen["entries"],
        "delivered_tokens_per_s": round(seen["tokens"] / delivered_s, 1) if delivered_s else 0.0,
        "api_problems": problems,
        "api_problem_samples": samples,
        "api_cpu_s": (api_s := _delta(api_cpu, api_after)),
        "api_cpu_us_per_delivered_entry": (
            None if api_s is None else round(api_s / max(1, seen["entries"]) * 1e6, 1)
        ),
        "clients_cpu_s": seen["cpu_s"],
        "redis_cpu_s": _delta(redis_cpu, redis_after),
        "machine_cpu_s": _delta(machine_cpu, machine_after),
        "machine_cores": os.cpu_count(),
        "window_s": round(window, 3),  # what the CPU figures cover: first token → last client
        "other_load_cores": _other_load(
            _delta(machine_cpu, machine_after),
            [stats.cpu_s, api_s, seen["cpu_s"], _delta(redis_cpu, redis_after)],
            window,
        ),
    }


def _other_load(machine: float | None, ours: list[float | None], window_s: float) -> float | None:
    """Cores kept busy by processes other than the benchmark's during its window."""
    if machine is None or window_s <= 0:
        return None
    return round(max(0.0, machine - sum(v or 0.0 for v in ours)) / window_s, 2)


def _delta(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else round(after - before, 3)
