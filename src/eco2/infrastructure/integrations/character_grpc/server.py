"""The ``grpc.aio`` server of the character service (``eco2 character-server``).

It serves any ``CharacterCatalogPort`` (the packaged catalogue through ``LocalCharacterCatalog``
in production, fakes in tests) plus the standard ``grpc.health.v1.Health`` service, and stops
gracefully: on the stop event it reports NOT_SERVING, keeps answering for a drain period (if
set), then lets in-flight calls finish within a grace period. With a tracer provider, the
OpenTelemetry server interceptor makes every call a span continuing the client's trace.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from opentelemetry.trace import TracerProvider

from eco2.application.ports.integrations import CharacterCatalogPort
from eco2.infrastructure.integrations.character_grpc.protocol import (
    SERVICE_NAME,
    generated,
    otel_grpc,
    to_message,
)

log = logging.getLogger(__name__)


class CharacterServicer:
    """The ``CharacterService`` RPCs over a catalogue.

    Args:
        catalog: Where the characters come from.
    """

    def __init__(self, catalog: CharacterCatalogPort) -> None:
        self._catalog = catalog

    async def FindCharacters(
        self, request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> Any:
        """Characters named in ``request.text``, then those of ``request.categories``."""
        async with _internal_errors(context, "FindCharacters"):
            found = await self._catalog.find(request.text, list(request.categories))
        return generated().messages.FindCharactersResponse(
            characters=[to_message(c) for c in found]
        )

    async def ListCharacters(
        self, request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> Any:
        """The whole catalogue."""
        async with _internal_errors(context, "ListCharacters"):
            characters = await self._catalog.list_all()
        return generated().messages.ListCharactersResponse(
            characters=[to_message(c) for c in characters]
        )


@asynccontextmanager
async def _internal_errors(
    context: grpc.aio.ServicerContext[Any, Any], method: str
) -> AsyncIterator[None]:
    """Log a failure and answer INTERNAL without its text (grpc.aio would send the exception's)."""
    try:
        yield
    except Exception:
        log.exception("character_rpc_failed", extra={"method": method})
        await context.abort(grpc.StatusCode.INTERNAL, "internal error")


class CharacterServer:
    """A started server: its bound port and a graceful stop.

    Args:
        server: The running ``grpc.aio`` server.
        port: The port it is bound to.
        health_servicer: Its health service, turned NOT_SERVING on stop.
    """

    def __init__(
        self, server: grpc.aio.Server, port: int, health_servicer: health.aio.HealthServicer
    ) -> None:
        self.server = server
        self.port = port
        self._health = health_servicer

    async def stop(self, grace_s: float = 5.0, drain_s: float = 0.0) -> None:
        """Report NOT_SERVING, keep answering for ``drain_s``, then refuse new calls and let
        running ones finish within ``grace_s``.

        The drain covers the seconds a load balancer or Service takes to stop sending new calls
        here after the health check turns (calls arriving meanwhile are still answered).
        """
        await self._health.enter_graceful_shutdown()
        if drain_s > 0:
            log.info("character_server_draining", extra={"port": self.port, "drain_s": drain_s})
            await asyncio.sleep(drain_s)
        await self.server.stop(grace_s)


def _address(host: str, port: int) -> str:
    bracket = ":" in host and not host.startswith("[")
    return f"[{host}]:{port}" if bracket else f"{host}:{port}"


async def start_server(
    catalog: CharacterCatalogPort,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    tracer_provider: TracerProvider | None = None,
) -> CharacterServer:
    """Build, bind and start the server.

    Args:
        catalog: The catalogue to serve.
        host: Interface to bind.
        port: Port to bind; 0 picks a free one (read it from the result).
        tracer_provider: When given, calls are traced with opentelemetry-instrumentation-grpc.

    Returns:
        The running server.

    Raises:
        OSError: The address cannot be bound.
    """
    interceptors: list[Any] | None = None
    if tracer_provider is not None:
        interceptors = [otel_grpc().aio_server_interceptor(tracer_provider=tracer_provider)]
    # No SO_REUSEPORT: a second server on a busy port must fail, not split the traffic.
    server = grpc.aio.server(interceptors=interceptors, options=[("grpc.so_reuseport", 0)])
    generated().services.add_CharacterServiceServicer_to_server(CharacterServicer(catalog), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    try:
        bound = server.add_insecure_port(_address(host, port))
    except RuntimeError as exc:  # grpcio raises RuntimeError when it cannot bind
        raise OSError(f"cannot bind {_address(host, port)}: {exc}") from None
    if bound == 0:
        raise OSError(f"cannot bind {_address(host, port)}")
    await server.start()
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("character_server_started", extra={"host": host, "port": bound})
    return CharacterServer(server, bound, health_servicer)


async def serve(
    catalog: CharacterCatalogPort,
    stop: asyncio.Event,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    grace_s: float = 5.0,
    drain_s: float = 0.0,
    tracer_provider: TracerProvider | None = None,
    on_ready: Callable[[int], None] | None = None,
) -> None:
    """Serve until ``stop`` is set, then stop gracefully.

    Args:
        catalog: The catalogue to serve.
        stop: Set it (e.g. from a SIGTERM handler) to stop.
        host: Interface to bind.
        port: Port to bind; 0 picks a free one.
        grace_s: Seconds in-flight calls get to finish once stopping.
        drain_s: Seconds it reports NOT_SERVING but still answers before it stops.
        tracer_provider: When given, calls are traced.
        on_ready: Called with the bound port once the server accepts calls.
    """
    running = await start_server(catalog, host=host, port=port, tracer_provider=tracer_provider)
    try:
        if on_ready is not None:
            on_ready(running.port)
        await stop.wait()
    finally:
        await running.stop(grace_s, drain_s)
        log.info("character_server_stopped", extra={"port": running.port})
