"""Services of ``eco2 bench stream``: reachability checks, Redis CPU, removal of a run's keys
and queues. Nothing here prints a password: URLs in messages lose theirs.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from eco2.entrypoints.cli.bench_stream_procs import BenchError

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)


def safe_url(url: str) -> str:
    """``url`` without its password, fit for a message."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}"
    netloc += f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=netloc))


def _scrub(text: str, url: str) -> str:
    password = urlsplit(url).password
    return text.replace(password, "***") if password else text


async def check_services(redis_url: str, amqp_url: str) -> None:
    """Fail fast, with one line, when Redis or RabbitMQ cannot be reached.

    Raises:
        BenchError: naming the unreachable service and its address (without a password).
    """
    import aio_pika
    from redis.asyncio import Redis

    redis = Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=5)
    try:
        await asyncio.wait_for(redis.ping(), 5)
    except Exception as exc:
        reason = _scrub(f"{type(exc).__name__}: {exc}", redis_url)
        raise BenchError(f"cannot reach Redis at {safe_url(redis_url)}: {reason}") from None
    finally:
        await redis.aclose()
    try:
        connection = await asyncio.wait_for(aio_pika.connect(amqp_url, timeout=5), 8)
        await connection.close()
    except Exception as exc:
        reason = _scrub(f"{type(exc).__name__}: {exc}", amqp_url)
        raise BenchError(f"cannot reach RabbitMQ at {safe_url(amqp_url)}: {reason}") from None


async def redis_cpu_s(redis: Redis) -> float | None:
    """CPU seconds Redis has used (all its clients, not only this benchmark's)."""
    try:
        info = await redis.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
    except Exception:
        return None


async def cleanup(redis: Redis, prefix: str, amqp_url: str, queue: str) -> None:
    """Delete the run's keys and queues; log (never raise) what could not be removed."""
    import aio_pika

    try:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}:*", count=1000)]
        for k in range(0, len(keys), 500):
            await redis.unlink(*keys[k : k + 500])
    except Exception as exc:
        log.warning("bench_cleanup_failed", extra={"what": "redis", "error": type(exc).__name__})
    try:
        connection = await asyncio.wait_for(aio_pika.connect(amqp_url, timeout=5), 8)
        async with connection:
            channel = await connection.channel()
            for name in (queue, f"{queue}.dead"):
                await channel.queue_delete(name)
            await channel.exchange_delete(f"{queue}.dead")
    except Exception as exc:
        log.warning("bench_cleanup_failed", extra={"what": "rabbitmq", "error": type(exc).__name__})
