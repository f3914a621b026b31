"""HTTP metrics middleware and the ``/metrics`` endpoint of the API."""

from __future__ import annotations

import time

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.routing import Match

from eco2.application.ports.metrics import MetricsPort


def route_template(app: FastAPI, request: Request) -> str:
    """The matched route's path template (``/api/v1/chat/{job_id}``), never the raw path."""
    for route in app.router.routes:
        match, _ = route.matches(request.scope)
        if match is Match.FULL:
            return str(getattr(route, "path", "unmatched"))
    return "unmatched"


def instrument(app: FastAPI, metrics: MetricsPort, registry: CollectorRegistry | None) -> None:
    """Count every request by method, route template and status; serve ``/metrics``."""

    async def measure(request: Request, call_next: RequestResponseEndpoint) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = route_template(app, request)
            if route != "/metrics":
                metrics.http_request(request.method, route, status, time.perf_counter() - started)

    app.add_middleware(BaseHTTPMiddleware, dispatch=measure)

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        if registry is None:
            return Response("metrics are disabled (ECO2_METRICS_ENABLED=false)\n", status_code=404)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
