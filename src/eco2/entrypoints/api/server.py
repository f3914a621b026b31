"""Serving the API under uvicorn: on shutdown, SSE streams end first so their clients move on.

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


class ApiServer(uvicorn.Server):
    """A uvicorn server that runs ``before_shutdown`` once it has stopped accepting."""

    def __init__(
        self, config: uvicorn.Config, before_shutdown: Callable[[], Awaitable[None]]
    ) -> None:
        super().__init__(config)
        self._before_shutdown = before_shutdown

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # no new connection while the streams end
        await self._before_shutdown()
        await super().shutdown(sockets)


def run_api(deps: ApiDeps, host: str, port: int, **options: Any) -> None:
    """Serve ``create_app(deps)`` on ``host:port`` until SIGINT/SIGTERM (``options``: uvicorn's)."""
    config = uvicorn.Config(create_app(deps), host=host, port=port, log_level="warning", **options)
    ApiServer(config, deps.fanout.close).run()
