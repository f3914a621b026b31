"""Serving the API under uvicorn: a frozen startup heap, and SSE streams that end first on shutdown.

Once started, the objects alive (the imported libraries, the app, its clients) are exempted from
the garbage collector's full passes (``heap.freeze_startup_heap``): those ~226k objects would be
walked again in every full pass on top of what the connections hold (80-160k objects with 1,000
SSE clients, passes of 20-80 ms measured here), and every stream waits during a pass.

uvicorn's graceful shutdown stops accepting connections and then waits for the open ones to
finish; an SSE stream finishes only with its job, so that wait could last as long as the
longest answer. Here the listeners close, then the fan-out ends every stream (the clients
resume by id, on another replica), then uvicorn's own shutdown goes on.
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn

from eco2.entrypoints.api.app import ApiDeps, create_app
from eco2.entrypoints.api.sse import ServerSend
from eco2.entrypoints.heap import freeze_startup_heap


class ApiServer(uvicorn.Server):
    """A uvicorn server that freezes its startup heap once started (unless ``freeze_heap`` is
    false) and runs ``before_shutdown`` once it has stopped accepting."""

    def __init__(
        self,
        config: uvicorn.Config,
        before_shutdown: Callable[[], Awaitable[None]],
        *,
        freeze_heap: bool = True,
    ) -> None:
        super().__init__(config)
        self._before_shutdown = before_shutdown
        self._freeze_heap = freeze_heap

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self._freeze_heap and not self.should_exit:
            freeze_startup_heap()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # no new connection while the streams end
        await self._before_shutdown()
        await super().shutdown(sockets)


def served_app(deps: ApiDeps) -> ServerSend:
    """``create_app(deps)`` as the server runs it: SSE chunks go to the server's send directly."""
    return ServerSend(create_app(deps))


GRACEFUL_SHUTDOWN_S = 20  # under the API pod's 30 s termination grace (deploy/k8s/base/api.yaml)


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (uvicorn listens on it).

    Bound here, before the server starts, so that a busy port or an unknown interface is an
    ``OSError`` the command reports in one line, not a log line from inside uvicorn.

    Raises:
        OSError: The address cannot be bound; the message names it.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def run_api(
    deps: ApiDeps, host: str, port: int, *, sock: socket.socket | None = None, **options: Any
) -> None:
    """Serve :func:`served_app` on ``host:port`` until SIGINT/SIGTERM (``options``: uvicorn's).

    Shutdown waits at most ``GRACEFUL_SHUTDOWN_S`` for open requests, so that the clean-up
    (closing connections, flushing spans) always runs before the pod is killed.

    Args:
        deps: What the app serves.
        host: Interface (also what uvicorn reports).
        port: Port.
        sock: The socket from :func:`listening_socket`, when the caller bound it first;
            closed when the server stops.
        **options: uvicorn's ``Config`` options.

    Raises:
        OSError: ``host:port`` cannot be bound (raised before the server starts).
    """
    options.setdefault("timeout_graceful_shutdown", GRACEFUL_SHUTDOWN_S)
    config = uvicorn.Config(served_app(deps), host=host, port=port, log_level="warning", **options)
    sock = sock or listening_socket(host, port)
    try:
        ApiServer(config, deps.fanout.close).run(sockets=[sock])
    finally:
        sock.close()
