"""The worker's own HTTP port (``ECO2_WORKER_METRICS_PORT``): health, readiness and metrics.

The worker serves no API, so probes need a port of their own. The server runs in a thread, so
``/healthz`` cannot just answer "up": it answers from a heartbeat the worker's event loop writes
every second, and a loop wedged for longer than ``stale_s`` makes it 503 (a liveness probe then
restarts the pod). ``/readyz`` adds that the worker consumes jobs, asked of the queue on every
probe: a worker whose broker connection is down (reconnecting) is not ready. ``/metrics`` is
the Prometheus exposition when metrics are on (404 otherwise): the port serves probes either way.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


class WorkerHealth:
    """Serves ``/healthz``, ``/readyz`` and ``/metrics`` from a thread; see the module docstring.

    Args:
        registry: What ``/metrics`` exposes (``None``: metrics are off).
        stale_s: Heartbeat age after which the loop counts as wedged.
        consuming: Whether jobs can arrive now (the queue's ``consuming``), asked per probe.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None,
        *,
        stale_s: float = 10.0,
        consuming: Callable[[], bool] = lambda: True,
    ) -> None:
        self._registry = registry
        self._stale_s = stale_s
        self._consuming = consuming
        self._beat = time.monotonic()
        self.ready = False
        """Set while the worker consumes jobs."""
        self._server: ThreadingHTTPServer | None = None
        self._heart: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        """Whether the event loop beat within ``stale_s``."""
        return time.monotonic() - self._beat < self._stale_s

    def start(self, port: int, host: str = "0.0.0.0") -> int:
        """Listen on ``port`` (0: any free one) and start the heartbeat; return the port.

        Raises:
            OSError: the port cannot be bound.
        """
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, name="eco2-worker-health", daemon=True
        ).start()
        self._heart = asyncio.get_running_loop().create_task(self._beating())
        return int(self._server.server_address[1])

    async def close(self) -> None:
        """Stop the heartbeat and the server."""
        self.ready = False
        if self._heart is not None:
            self._heart.cancel()
        if self._server is not None:
            server, self._server = self._server, None
            await asyncio.to_thread(server.shutdown)
            server.server_close()

    async def _beating(self) -> None:
        while True:
            self._beat = time.monotonic()
            await asyncio.sleep(1.0)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        health = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/healthz":
                    self._send(200 if health.alive else 503, b"ok\n" if health.alive else b"")
                elif path == "/readyz":
                    ready = health.alive and health.ready and health._consuming()
                    self._send(200 if ready else 503, b"ready\n" if ready else b"")
                elif path == "/metrics" and health._registry is not None:
                    self._send(200, generate_latest(health._registry), CONTENT_TYPE_LATEST)
                else:
                    self._send(404, b"")

            def _send(self, status: int, body: bytes, kind: str = "text/plain") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                return  # probes every few seconds: not worth a log line each

        return Handler
