"""``eco2 character-server``: the character catalogue as a gRPC service (distributed mode).

The lead registers :func:`character_server` on the ``eco2`` app as ``character-server``. It
serves the packaged catalogue, traces calls when the environment enables OpenTelemetry, and stops
gracefully on SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Annotated

import typer

from eco2.entrypoints.cli.errors import fail


def character_server(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[
        int | None,
        typer.Option(
            min=0, max=65535, help="Port to bind (default ECO2_CHARACTER_GRPC_PORT or 50051)."
        ),
    ] = None,
    grace: Annotated[
        float, typer.Option(min=0, help="Seconds in-flight calls get to finish on SIGTERM.")
    ] = 5.0,
    drain: Annotated[
        float,
        typer.Option(
            min=0,
            help="Seconds it reports NOT_SERVING but still answers on SIGTERM, before the grace "
            "period (time for a Service to stop routing here).",
        ),
    ] = 0.0,
) -> None:
    """Serve the character catalogue over gRPC (CharacterService + grpc.health.v1)."""
    from eco2.infrastructure.integrations.character_grpc.server import serve
    from eco2.infrastructure.integrations.characters import LocalCharacterCatalog
    from eco2.infrastructure.integrations.config import IntegrationSettings
    from eco2.infrastructure.telemetry.otel import build_tracer_provider, otel_enabled

    try:
        bind_port = port if port is not None else IntegrationSettings().character_grpc_port
    except ValueError as exc:  # pydantic's ValidationError: a malformed ECO2_* variable
        raise fail(str(exc)) from None
    provider = None
    if otel_enabled(os.environ):
        provider = build_tracer_provider(os.environ.get("OTEL_SERVICE_NAME") or "eco2-character")

    def ready(bound: int) -> None:
        typer.echo(f"eco2: character service on {host}:{bound} (gRPC)", err=True)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(
            LocalCharacterCatalog(),
            stop,
            host=host,
            port=bind_port,
            grace_s=grace,
            drain_s=drain,
            tracer_provider=provider,
            on_ready=ready,
        )

    try:
        asyncio.run(run())
    except OSError as exc:
        raise fail(str(exc), 1) from None
    finally:
        if provider is not None:
            provider.shutdown()
