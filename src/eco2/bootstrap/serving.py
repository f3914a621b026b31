"""Composition of the served modes: embedded (one process) and distributed (API / worker)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from opentelemetry.sdk.trace import TracerProvider

from eco2.bootstrap import (
    Application,
    ConfigurationError,
    build_application,
    build_metrics,
    build_tracing,
)
from eco2.entrypoints.api.app import ApiDeps
from eco2.entrypoints.api.fanout import StreamFanout
from eco2.entrypoints.api.sse import sse_frame
from eco2.entrypoints.worker.health import WorkerHealth
from eco2.entrypoints.worker.runner import ChatWorker
from eco2.infrastructure.memory.job_queue import InMemoryJobQueue
from eco2.infrastructure.rabbitmq.job_queue import RabbitJobQueue
from eco2.infrastructure.redis.event_stream import RedisEventStream
from eco2.infrastructure.telemetry.otel import INSTRUMENTATION
from eco2.pipeline.context import Ports
from eco2.settings import Settings

log = logging.getLogger(__name__)


def _worker(application: Application, queue: Any) -> ChatWorker:
    """The worker of ``application`` on ``queue``."""
    serving = application.settings.serving
    return ChatWorker(
        queue,
        application.process_chat,
        application.events,
        concurrency=serving.worker_concurrency,
        job_timeout_s=serving.job_timeout_s,
        shutdown_grace_s=serving.shutdown_grace_s,
        max_deliveries=serving.max_deliveries,
        metrics=application.metrics,
        tracer=application.ports.tracer,
    )


def _flush(provider: TracerProvider | None) -> Callable[[], Awaitable[None]]:
    """A shutdown hook sending the spans still buffered."""

    async def flush() -> None:
        if provider is not None:
            await asyncio.to_thread(provider.shutdown)

    return flush


def build_embedded(
    settings: Settings | None = None,
    *,
    application: Application | None = None,
    tracer_provider: TracerProvider | None = None,
) -> ApiDeps:
    """API + worker in one process: in-memory queue and streams, offline-capable models.

    Args:
        settings: Settings (default: from the environment).
        application: A prebuilt application (tests share adapters).
        tracer_provider: OpenTelemetry provider (default: from the environment, or none).
    """
    provider, tracer = (
        (tracer_provider, tracer_provider.get_tracer(INSTRUMENTATION))
        if tracer_provider is not None
        else build_tracing("eco2")
    )
    application = application or build_application(settings, tracer=tracer)
    serving = application.settings.serving
    queue = InMemoryJobQueue(max_deliveries=serving.max_deliveries)
    worker = _worker(application, queue)
    return ApiDeps(
        metrics=application.metrics,
        registry=application.registry,
        events=application.events,
        queue=queue,
        fanout=StreamFanout(application.events, sse_frame, client_buffer=serving.sse_client_buffer),
        keepalive_s=serving.sse_keepalive_s,
        max_body_bytes=serving.max_body_bytes,
        max_connection_s=serving.sse_max_connection_s,
        tracer=application.ports.tracer,
        tracer_provider=provider,
        on_startup=[worker.start],
        on_shutdown=[worker.stop, queue.close, application.ports.aclose, _flush(provider)],
    )


def _transports(settings: Settings) -> tuple[RedisEventStream, RabbitJobQueue]:
    """Redis event streams and the RabbitMQ queue of distributed mode (not yet connected)."""
    from redis.asyncio import BlockingConnectionPool, Redis

    from eco2.infrastructure.redis.packing import pack_with_hiredis

    serving = settings.serving
    # The pool waits for a free connection instead of failing; the socket timeout outlasts the
    # shared reader's blocking read; connections pack commands with hiredis (``packing``).
    pool = BlockingConnectionPool.from_url(
        serving.redis_url,
        max_connections=serving.redis_max_connections,
        timeout=10,
        socket_timeout=30,
        socket_connect_timeout=5,
        health_check_interval=30,
    )
    pack_with_hiredis(pool)
    client = Redis.from_pool(pool)  # the client owns the pool: aclose() closes it
    events = RedisEventStream(
        client,
        prefix=serving.redis_prefix,
        ttl_after_terminal_s=serving.stream_ttl_s,
        max_len=serving.stream_max_len,
    )
    queue = RabbitJobQueue(
        serving.amqp_url.get_secret_value(),
        queue=serving.queue_name,
        max_deliveries=serving.max_deliveries,
    )
    return events, queue


def build_api(settings: Settings | None = None) -> ApiDeps:
    """The distributed API: Redis streams and the RabbitMQ queue (connected on start-up)."""
    settings = settings or Settings()
    serving = settings.serving
    events, queue = _transports(settings)
    metrics, registry = build_metrics(settings)
    provider, tracer = build_tracing("eco2-api")
    return ApiDeps(
        metrics=metrics,
        registry=registry,
        tracer=tracer,
        tracer_provider=provider,
        events=events,
        queue=queue,
        fanout=StreamFanout(events, sse_frame, client_buffer=serving.sse_client_buffer),
        keepalive_s=serving.sse_keepalive_s,
        max_body_bytes=serving.max_body_bytes,
        max_connection_s=serving.sse_max_connection_s,
        on_startup=[queue.connect],
        on_shutdown=[queue.close, events.close, _flush(provider)],
    )


@asynccontextmanager
async def _checkpointer(settings: Settings) -> AsyncIterator[BaseCheckpointSaver[Any] | None]:
    url = settings.serving.database_url
    if url is None:
        log.warning("checkpointer_in_memory", extra={"reason": "ECO2_DATABASE_URL unset"})
        yield None
        return
    from eco2.infrastructure.postgres_checkpointer import pooled_checkpointer

    async with pooled_checkpointer(url.get_secret_value()) as saver:
        yield saver


async def run_worker(
    settings: Settings,
    stop: asyncio.Event,
    *,
    ports: Ports | None = None,
    started: asyncio.Event | None = None,
) -> None:
    """The distributed worker: consume until ``stop`` is set, then drain gracefully.

    Args:
        settings: Settings.
        stop: Set to stop (SIGTERM/SIGINT in ``eco2 worker``).
        ports: Prebuilt adapters (tests share them); built from settings otherwise.
        started: Set once the worker consumes.
    """
    from eco2.infrastructure.redis.session_lock import RedisSessionLock

    events, queue = _transports(settings)
    provider, tracer = build_tracing("eco2-worker")
    # A session's turns run one at a time across workers; the key outlives any run.
    sessions = RedisSessionLock(
        events.client,
        prefix=settings.serving.redis_prefix,
        ttl_s=settings.serving.job_timeout_s + 30,
    )
    async with _checkpointer(settings) as checkpointer:
        application = build_application(
            settings,
            ports=ports,
            events=events,
            checkpointer=checkpointer,
            tracer=tracer,
            sessions=sessions,
        )
        await queue.connect()
        # Probes and /metrics: /healthz from the loop's heartbeat, /readyz once consuming.
        health = WorkerHealth(application.registry, consuming=lambda: queue.consuming)
        worker = _worker(application, queue)
        try:
            if port := settings.telemetry.worker_metrics_port:
                try:
                    health.start(port)
                except OSError as exc:
                    raise ConfigurationError(
                        f"cannot listen on ECO2_WORKER_METRICS_PORT={port}: {exc.strerror}"
                    ) from None
                log.info("worker_http_listening", extra={"port": port})
            await worker.start()
            health.ready = True
            if started is not None:
                started.set()
            await stop.wait()
            health.ready = False
            await worker.stop()
        finally:
            await health.close()
            await queue.close()
            await events.close()
            await application.ports.aclose()
            await _flush(provider)()
            application.telemetry.flush()
