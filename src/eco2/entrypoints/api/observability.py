"""HTTP metrics middleware and the ``/metrics`` endpoint of the API.

The middleware is plain ASGI: it only looks at the ``http.response.start`` message, so a streamed
response (an SSE connection) costs one attribute check per chunk, not a task hop per chunk as
Starlette's ``BaseHTTPMiddleware`` would. A request's duration is the time until its response
starts, so an hour-long SSE connection counts as fast when its headers went out at once.
"""

from __future__ import annotations

import time

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from eco2.application.ports.metrics import MetricsPort


def route_template(app: FastAPI, scope: Scope) -> str:
    """The matched route's path template (``/api/v1/chat/{job_id}``), never the raw path."""
    for route in app.router.routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return str(getattr(route, "path", "unmatched"))
    return "unmatched"


class HttpMetrics:
    """Counts every HTTP request by method, route template and status (ASGI middleware).

    Args:
        app: The wrapped application.
        fastapi: The FastAPI app whose routes name the templates.
        metrics: Where the counts go.
    """

    def __init__(self, app: ASGIApp, fastapi: FastAPI, metrics: MetricsPort) -> None:
        self._app, self._fastapi, self._metrics = app, fastapi, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        recorded = False

        def record(status: int) -> None:
            nonlocal recorded
            recorded = True
            route = route_template(self._fastapi, scope)
            if route != "/metrics":
                elapsed = time.perf_counter() - started
                self._metrics.http_request(scope["method"], route, status, elapsed)

        async def send_and_record(message: Message) -> None:
            if not recorded and message["type"] == "http.response.start":
                record(int(message["status"]))
            await send(message)

        try:
            await self._app(scope, receive, send_and_record)
        finally:
            if not recorded:  # the app failed before it responded: the server answers 500
                record(500)


def instrument(app: FastAPI, metrics: MetricsPort, registry: CollectorRegistry | None) -> None:
    """Count every request by method, route template and status; serve ``/metrics``."""
    app.add_middleware(HttpMetrics, fastapi=app, metrics=metrics)

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        if registry is None:
            return Response("metrics are disabled (ECO2_METRICS_ENABLED=false)\n", status_code=404)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
