"""The FastAPI application: chat jobs, SSE events, status, snapshot, health, the web page."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

from fastapi import FastAPI, Header, Query
from fastapi.responses import HTMLResponse, JSONResponse
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry

from eco2.application.job_metrics import UNCLASSIFIED
from eco2.application.ports.events import EventStreamPort
from eco2.application.ports.jobs import JobMessage, JobQueuePort
from eco2.application.ports.metrics import MetricsPort
from eco2.application.trace_view import node_waterfall
from eco2.domain.chat import ChatJob, ChatRequest, GeoPoint, new_trace_id
from eco2.domain.errors import InvalidRequestError, UnavailableError
from eco2.domain.events import EventType, entry_key
from eco2.entrypoints.api.body_limit import BodySizeLimit
from eco2.entrypoints.api.errors import RETRY_AFTER_S, install_error_handlers
from eco2.entrypoints.api.fanout import StreamFanout
from eco2.entrypoints.api.fanout_client import SlowClientError
from eco2.entrypoints.api.job_state import (
    all_events,
    answer_so_far,
    check_ok,
    entry_at,
    error_response,
    events_ok,
    job_status,
    traceparent,
    trimmed,
)
from eco2.entrypoints.api.observability import instrument
from eco2.entrypoints.api.schemas import ChatAccepted, ChatBody, JobView, Snapshot
from eco2.entrypoints.api.sse import SseResponse, Write, retry_frame
from eco2.infrastructure.telemetry.otel import inject_headers, trace_id_of_current_span

log = logging.getLogger(__name__)

Hook = Callable[[], Awaitable[None]]


@dataclass
class ApiDeps:
    """What the API needs; the composition root builds it.

    Attributes:
        events: The job event streams.
        queue: The job queue.
        fanout: Shared per-job stream readers.
        metrics: HTTP, SSE and recovery metrics go here.
        registry: What ``/metrics`` exposes (``None``: metrics disabled).
        tracer: Spans for publishing jobs (no-op unless OpenTelemetry is on).
        tracer_provider: Given to the FastAPI instrumentation (server spans) when set.
        keepalive_s: Seconds between SSE keep-alive comments.
        max_body_bytes: Largest accepted request body.
        reconnect_ms: The SSE ``retry`` hint: how soon a dropped client reconnects.
        max_connection_s: Close an SSE connection after this long (the client resumes);
            ``None`` keeps it open until the terminal event.
        on_startup: Awaited in order when the app starts (connect, start the embedded worker).
        on_shutdown: Awaited in order when it stops.
    """

    events: EventStreamPort
    queue: JobQueuePort
    fanout: StreamFanout
    metrics: MetricsPort
    registry: CollectorRegistry | None = None
    tracer: trace.Tracer = field(default_factory=trace.NoOpTracer)
    tracer_provider: Any = None
    keepalive_s: float = 15.0
    max_body_bytes: int = 16_384
    reconnect_ms: int = 1000
    max_connection_s: float | None = None
    on_startup: list[Hook] = field(default_factory=list)
    on_shutdown: list[Hook] = field(default_factory=list)


def create_app(deps: ApiDeps) -> FastAPI:
    """Build the app around ``deps`` (nothing connects until the app starts)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for hook in deps.on_startup:
            await hook()
        try:
            yield
        finally:
            await deps.fanout.close()
            for hook in deps.on_shutdown:
                await hook()

    app = FastAPI(title="Eco² chat", version="0.1.0", lifespan=lifespan)
    app.add_middleware(BodySizeLimit, max_bytes=deps.max_body_bytes)
    instrument(app, deps.metrics, deps.registry)
    if deps.tracer_provider is not None:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=deps.tracer_provider,
            excluded_urls="healthz,readyz,metrics",
            exclude_spans=["receive", "send"],  # no span per SSE event
        )

    install_error_handlers(app, deps.max_body_bytes)

    @app.post("/api/v1/chat", status_code=202, response_model=ChatAccepted)
    async def post_chat(body: ChatBody) -> Any:
        try:
            request = ChatRequest(
                message=body.message,
                session_id=body.session_id,
                user_location=(
                    GeoPoint(body.user_location.latitude, body.user_location.longitude)
                    if body.user_location
                    else None
                ),
                image_url=str(body.image_url) if body.image_url else None,
            )
        except InvalidRequestError as exc:
            return error_response(
                422, "validation_error", str(exc), [{"field": exc.field, "message": exc.message}]
            )
        # With OpenTelemetry on, the job's trace id is this request's trace.
        job = ChatJob(request, trace_id=trace_id_of_current_span() or new_trace_id())
        now = time.time()
        await deps.events.publish(
            job.job_id, EventType.QUEUED, {"job_id": job.job_id, "trace_id": job.trace_id}
        )
        message = JobMessage(
            job_id=job.job_id,
            trace_id=job.trace_id,
            request={
                "message": request.message,
                "session_id": request.session_id,
                "user_location": body.user_location.model_dump() if body.user_location else None,
                "image_url": request.image_url,
            },
            enqueued_at=now,
            headers={},
        )
        try:
            with deps.tracer.start_as_current_span(
                "publish eco2.chat.jobs",
                kind=SpanKind.PRODUCER,
                attributes={"messaging.operation.type": "send", "eco2.job_id": job.job_id},
            ):
                message.headers.update(
                    inject_headers() or {"traceparent": traceparent(job.trace_id)}
                )
                await deps.queue.enqueue(message)
        except Exception as exc:
            log.exception("enqueue_failed", extra={"job_id": job.job_id})
            deps.metrics.error(UNCLASSIFIED, "enqueue_failed")
            await deps.events.publish(
                job.job_id,
                EventType.ERROR,
                {"code": "enqueue_failed", "message": type(exc).__name__, "trace_id": job.trace_id},
            )
            refused = error_response(
                503, "unavailable", "the job queue is unavailable; retry later"
            )
            refused.headers["Retry-After"] = RETRY_AFTER_S
            return refused
        return ChatAccepted(
            job_id=job.job_id,
            stream_url=f"/api/v1/chat/{job.job_id}/events",
            trace_id=job.trace_id,
        )

    @app.get("/api/v1/chat/{job_id}", response_model=JobView)
    async def get_job(job_id: str) -> Any:
        events = await all_events(deps.events, job_id)
        if not events:
            return error_response(404, "not_found", f"no job {job_id}")
        last = events[-1]
        return JobView(
            job_id=job_id,
            status=job_status(events),
            result=last.payload if last.type is EventType.DONE else None,
            error=last.payload if last.type is EventType.ERROR else None,
            last_event_id=last.id,
        )

    @app.get("/api/v1/chat/{job_id}/snapshot", response_model=Snapshot)
    async def get_snapshot(job_id: str) -> Any:
        events = await all_events(deps.events, job_id)
        if not events:
            deps.metrics.stream_recovery("snapshot", "error")
            return error_response(404, "not_found", f"no job {job_id}")
        deps.metrics.stream_recovery("snapshot", "success")
        return Snapshot(
            job_id=job_id,
            status=job_status(events),
            text=answer_so_far(events),
            last_event_id=events[-1].id,
            seq=events[-1].seq,
            truncated=trimmed(events),
        )

    @app.get("/api/v1/chat/{job_id}/trace")
    async def get_trace(job_id: str) -> Any:
        events = await all_events(deps.events, job_id)
        if not events:
            return error_response(404, "not_found", f"no job {job_id}")
        trace_id = next((e.payload["trace_id"] for e in events if "trace_id" in e.payload), None)
        return {
            "job_id": job_id,
            "status": job_status(events),
            "trace_id": trace_id,
            "nodes": [node.to_dict() for node in node_waterfall(events)],
            "truncated": trimmed(events),
        }

    @app.get("/api/v1/chat/{job_id}/events")
    async def get_events(
        job_id: str,
        last_event_id: str | None = Header(default=None, alias="Last-Event-ID"),
        after: str | None = Query(default=None, description="Resume after this entry id."),
    ) -> Any:
        position = last_event_id or after
        field = "Last-Event-ID" if last_event_id else "after"
        refusal = await _refuse_follow(deps.events, job_id, position, field)
        if position is not None:
            deps.metrics.stream_recovery("catch_up", "error" if refusal else "success")
        if refusal is not None:
            return refusal

        async def stream(write: Write) -> None:
            # The fan-out writes encoded, batched frames and the keep-alive comments; the
            # response ends after the terminal event or when the client goes away.
            deps.metrics.sse_clients(+1)
            try:
                await write(retry_frame(deps.reconnect_ms))
                await deps.fanout.serve(
                    job_id,
                    position,
                    write,
                    keepalive_s=deps.keepalive_s,
                    max_s=deps.max_connection_s,  # recycled: the client resumes by id
                )
            except SlowClientError as exc:
                # The client resumes from its last id; only a slow client is worth a warning.
                level = logging.WARNING if exc.reason == "overflow" else logging.INFO
                log.log(level, "sse_client_cut_off", extra={"job_id": job_id, "reason": exc.reason})
            except UnavailableError:  # the store dropped during a catch-up: end, it resumes
                log.warning("sse_store_unavailable", extra={"job_id": job_id})
            finally:
                deps.metrics.sse_clients(-1)

        return SseResponse(stream)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> Any:
        queue, events = await asyncio.gather(check_ok(deps.queue.ping()), events_ok(deps.events))
        checks = {"queue": queue, "events": events}
        ok = all(checks.values())
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "checks": checks},
            status_code=200 if ok else 503,
        )

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> str:
        return files("eco2.entrypoints.api").joinpath("static/index.html").read_text("utf-8")

    return app


async def _refuse_follow(
    events: EventStreamPort, job_id: str, position: str | None, field: str
) -> JSONResponse | None:
    """The refusal of a request to follow ``job_id`` from ``position`` (named ``field``), if any."""
    if position is not None:
        try:
            entry_key(position)
        except ValueError:
            return error_response(400, "invalid_event_id", f"{field}: not a stream entry id")
    if not await events.exists(job_id):
        return error_response(404, "not_found", f"no job {job_id}")
    if position is not None and not await _in_stream(events, job_id, position):
        message = f"{field}: past the end of this job's stream"
        return error_response(400, "invalid_event_id", message)
    return None


async def _in_stream(events: EventStreamPort, job_id: str, position: str) -> bool:
    """Whether a client can resume from ``position``: entries follow it, or it is the last one.

    An id past the stream's end (no entry there, none after it) was never sent by this job;
    followed, it would wait for ever on a finished job.
    """
    if await events.read(job_id, position, count=1):
        return True
    return await entry_at(events, job_id, position) is not None
