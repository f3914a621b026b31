"""Reach each service of distributed mode once before serving, and say clearly which one failed.

``eco2 api`` and ``eco2 worker`` call :func:`reach_services` first, so a wrong URL, a wrong
password or a service that is down ends the command with one line naming the service, its
variable and its address (never its credentials) instead of a stack trace, a start-up that
retries for ever, or a worker that takes jobs it cannot run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from eco2.domain.errors import Eco2Error
from eco2.settings import Settings


class ServiceUnreachableError(Eco2Error):
    """A service of distributed mode could not be reached (or refused the credentials)."""


def address_of(url: str) -> str:
    """``host:port`` (or the socket path) of ``url``, without user or password.

    PostgreSQL strings, URLs or key=value, are read by psycopg (several hosts, a socket in the
    query); anything unparsable is named by its variable only.
    """
    try:
        if "://" not in url or url.startswith(("postgresql://", "postgres://")):
            from psycopg.conninfo import conninfo_to_dict

            params = conninfo_to_dict(url)
            hosts = str(params.get("host") or "localhost").split(",")
            ports = str(params.get("port") or "").split(",")
            ports = ports if len(ports) == len(hosts) else ports[:1] * len(hosts)
            return ",".join(f"{h}:{p}" if p else h for h, p in zip(hosts, ports, strict=True))
        parts = urlsplit(url)
        if parts.scheme == "unix":
            return parts.path
        host = parts.hostname or "localhost"
        return f"{host}:{parts.port}" if parts.port else host
    except Exception:
        return "the configured address"


async def reach_services(
    settings: Settings, *, database: bool = False, timeout_s: float = 5.0
) -> None:
    """Connect to Redis, RabbitMQ and, with ``database``, PostgreSQL once each, then let go.

    Raises:
        ServiceUnreachableError: naming the first service that could not be reached.
    """
    serving = settings.serving
    checks: list[tuple[str, str, str, Callable[[str, float], Awaitable[None]]]] = [
        ("Redis", "ECO2_REDIS_URL", serving.redis_url, _redis),
        ("RabbitMQ", "ECO2_AMQP_URL", serving.amqp_url.get_secret_value(), _rabbitmq),
    ]
    if database and serving.database_url is not None:
        url = serving.database_url.get_secret_value()
        checks.append(("PostgreSQL", "ECO2_DATABASE_URL", url, _postgresql))
    for name, variable, url, check in checks:
        try:
            async with asyncio.timeout(timeout_s + 1):
                await check(url, timeout_s)
        except Exception as exc:
            reason = _reason(exc, url)
            raise ServiceUnreachableError(
                f"cannot reach {name} at {address_of(url)} ({variable}): {reason}"
            ) from None


def _reason(exc: Exception, url: str) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    text = str(exc) or type(exc).__name__
    password = urlsplit(url).password
    if password:
        text = text.replace(password, "***")
    return f"{type(exc).__name__}: {text}"[:300]


async def _redis(url: str, timeout_s: float) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    try:
        await client.ping()
    finally:
        await client.aclose()


async def _rabbitmq(url: str, timeout_s: float) -> None:
    import aio_pika

    connection = await aio_pika.connect(url, timeout=timeout_s)
    await connection.close()


async def _postgresql(url: str, timeout_s: float) -> None:
    import psycopg

    connection = await psycopg.AsyncConnection.connect(url, connect_timeout=max(1, int(timeout_s)))
    await connection.close()
