"""``eco2 api`` and ``eco2 worker``: distributed mode (DESIGN.md §2, §6).

Service URLs come from the environment (``ECO2_REDIS_URL``, ``ECO2_AMQP_URL``,
``ECO2_DATABASE_URL``) or from the flags of the same names, which win. Each command first reaches
its services once (``bootstrap.preflight``): a service that is down or refuses the credentials
ends it with one line naming the service and exit status 1.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import Annotated

import typer

from eco2.domain.errors import Eco2Error
from eco2.entrypoints import aio
from eco2.entrypoints.cli.errors import fail

log = logging.getLogger(__name__)

RedisUrl = Annotated[
    str | None, typer.Option("--redis-url", help="Redis URL (overrides ECO2_REDIS_URL).")
]
AmqpUrl = Annotated[
    str | None, typer.Option("--amqp-url", help="RabbitMQ URL (overrides ECO2_AMQP_URL).")
]


def _override(**variables: str | None) -> None:
    """Put the flags given into the environment the settings are read from."""
    for name, value in variables.items():
        if value is not None:
            os.environ[name] = value


def api(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to bind.")] = 8000,
    redis_url: RedisUrl = None,
    amqp_url: AmqpUrl = None,
) -> None:
    """Distributed mode API (Redis: ECO2_REDIS_URL, RabbitMQ: ECO2_AMQP_URL)."""
    from eco2.bootstrap.preflight import reach_services
    from eco2.bootstrap.serving import build_api
    from eco2.entrypoints.api.server import listening_socket, run_api
    from eco2.settings import Settings

    _override(ECO2_REDIS_URL=redis_url, ECO2_AMQP_URL=amqp_url)
    settings = Settings()
    try:
        aio.run(reach_services(settings))
    except Eco2Error as exc:
        raise fail(str(exc), 1) from None
    try:
        sock = listening_socket(host, port)
    except OSError as exc:
        raise fail(exc.strerror or str(exc), 1) from None
    run_api(build_api(settings), host, port, sock=sock)


def worker(
    redis_url: RedisUrl = None,
    amqp_url: AmqpUrl = None,
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", help="PostgreSQL URL (overrides ECO2_DATABASE_URL)."),
    ] = None,
) -> None:
    """Distributed mode worker (ECO2_REDIS_URL, ECO2_AMQP_URL, ECO2_DATABASE_URL)."""
    from eco2.bootstrap.preflight import reach_services
    from eco2.bootstrap.serving import run_worker
    from eco2.settings import Settings

    _override(ECO2_REDIS_URL=redis_url, ECO2_AMQP_URL=amqp_url, ECO2_DATABASE_URL=database_url)
    settings = Settings()

    async def run() -> bool:
        stop, started = asyncio.Event(), asyncio.Event()
        loop = asyncio.get_running_loop()
        main = asyncio.current_task()

        def on_signal() -> None:
            stop.set()
            if not started.is_set() and main is not None:
                main.cancel()  # still starting (connecting, building models): stop at once

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal)
        try:
            await reach_services(settings, database=True)
            await run_worker(settings, stop, started=started)
        except asyncio.CancelledError:
            if started.is_set():
                raise
            return False
        return True

    try:
        if not aio.run(run()):
            log.info("worker_stopped_before_start")
    except Eco2Error as exc:
        raise fail(str(exc), 1) from None
    except OSError as exc:
        raise fail(f"cannot reach a service: {exc}", 1) from None
