"""What the API derives from a job's events, and its error bodies and readiness checks."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable
from typing import Any

from fastapi.responses import JSONResponse

from eco2.application.ports.events import EventStreamPort
from eco2.domain.events import EventType, StreamEvent, entry_before, entry_key


def error_response(
    status: int, error: str, message: str, fields: list[dict[str, str]] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": error, "message": message, "fields": fields or []}, status_code=status
    )


def field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


async def all_events(events: EventStreamPort, job_id: str) -> list[StreamEvent]:
    collected: list[StreamEvent] = []
    after: str | None = None
    while batch := await events.read(job_id, after, count=1000):
        collected.extend(batch)
        after = batch[-1].id
    return collected


async def entry_at(events: EventStreamPort, job_id: str, entry_id: str) -> StreamEvent | None:
    """The job's entry ``entry_id`` itself (``"12"`` is ``"12-0"``), or ``None`` if it has none."""
    found = await events.read(job_id, entry_before(entry_id), count=1)
    return found[0] if found and entry_key(found[0].id) == entry_key(entry_id) else None


def answer_so_far(events: list[StreamEvent]) -> str:
    if events and events[-1].type is EventType.DONE:  # whole, even if the stream was trimmed
        return str(events[-1].payload.get("answer", ""))
    retries = [i for i, e in enumerate(events) if e.type is EventType.RETRY]
    start = retries[-1] + 1 if retries else 0
    return "".join(e.payload.get("text", "") for e in events[start:] if e.type is EventType.TOKEN)


def trimmed(events: list[StreamEvent]) -> bool:
    """Whether the stream lost its oldest entries to its length bound (and no ``done`` event
    makes up for them): a running job's snapshot text and node timings are then partial."""
    ended = bool(events) and events[-1].type is EventType.DONE
    return bool(events) and events[0].seq > 1 and not ended


def job_status(events: list[StreamEvent]) -> str:
    if events and events[-1].type.terminal:
        return events[-1].type.value
    return "running" if any(e.type is not EventType.QUEUED for e in events) else "queued"


def traceparent(trace_id: str) -> str:
    """Return a W3C ``traceparent`` header for ``trace_id`` with a fresh parent span id."""
    return f"00-{trace_id}-{secrets.token_hex(8)}-01"


READY_CHECK_S = 2.0
"""Budget of each readiness check, under the probe's own timeout (3 s in deploy/k8s): a store
that accepts connections but never answers is "not ready", not a probe that timed out."""


async def check_ok(check: Awaitable[bool]) -> bool:
    """Whether ``check`` answered true within ``READY_CHECK_S``."""
    try:
        async with asyncio.timeout(READY_CHECK_S):
            return bool(await check)
    except Exception:  # TimeoutError included
        return False


async def events_ok(events: EventStreamPort) -> bool:
    """Whether the event store answered within ``READY_CHECK_S``."""

    async def answered() -> bool:
        await events.exists("readiness-probe")
        return True

    return await check_ok(answered())
