"""Virtual users of ``eco2 loadtest``: post a chat job, follow its SSE stream to the end.

The scenario is DESIGN.md §5's (``loadtest/k6/chat.js`` is the k6 twin): each user picks a random
intent, posts its Korean message, checks ``202`` and a ``job_id``, reads
``GET /api/v1/chat/{job_id}/events`` to the terminal event (resuming with ``Last-Event-ID`` when
the connection drops: a *recovery*), then thinks for 1 s.

Users start evenly over the ramp, all hold, and stop evenly over a ramp-down as long as the ramp:
user ``i`` of ``n`` starts at ``ramp·i/n`` and posts no new job after
``ramp + duration + ramp·(n−i)/n`` (the last to start stops first); a job in flight when its
user stops is finished. DESIGN.md §5's reference text ("ramp to 10 virtual users over 1 minute,
hold 50 for 5 minutes, ramp down over 1 minute") contradicts itself; the project reads it as
0 → 50 users over 1 minute, 50 for 5 minutes, 50 → 0 over 1 minute, which is
``eco2 loadtest --users 50 --ramp 60 --duration 300`` here and the k6 stages
``{1m, 50}, {5m, 50}, {1m, 0}``.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from eco2.entrypoints.cli.loadtest_sse import sse_events

MESSAGES = {
    "waste": "페트병 어떻게 버려?",
    "character": "이코 소개해줘",
    "bulk_waste": "소파 버리는 방법 알려줘",
    "general": "안녕하세요",
}
# Resumes in a row that bring no new event before a job counts as ``no_terminal``; a
# connection that brings events resets the count (DESIGN.md §4: a server may recycle them).
MAX_RESUMES = 10
# Connections that fail at the transport level before any event: the service is not there.
TRANSPORT_ATTEMPTS = 3


@dataclass
class JobResult:
    """One iteration of a user: times are seconds; ``start`` is relative to the run start."""

    intent: str
    start: float
    outcome: str  # done | error (terminal event) | http_<status> | no_terminal | transport
    e2e_s: float | None = None
    ttft_s: float | None = None
    tokens: int = 0
    tokens_per_s: float | None = None
    recoveries: int = 0
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome == "done"


@dataclass
class Tick:
    """One second of the run: users running, streams open, cumulative jobs and tokens."""

    t: float
    users: int
    streams: int
    completed: int
    failed: int
    tokens: int


@dataclass
class RunResult:
    """Everything a run measured, client side."""

    users: int
    duration_s: float
    ramp_s: float
    intents: list[str]
    wall_s: float = 0.0
    jobs: list[JobResult] = field(default_factory=list)
    timeline: list[Tick] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "users": self.users,
            "duration_s": self.duration_s,
            "ramp_s": self.ramp_s,
            "intents": self.intents,
            "wall_s": self.wall_s,
            "timeline": [asdict(t) for t in self.timeline],
        }


class _State:
    def __init__(self) -> None:
        self.users = 0
        self.streams = 0
        self.completed = 0
        self.failed = 0
        self.tokens = 0


@dataclass
class _Stream:
    """Where a job's event stream stands, across the connections that read it."""

    posted: float
    last_id: str | None = None
    first_token: float | None = None
    events: int = 0  # events received so far: a connection that adds none made no progress


def _on_event(event: dict[str, str], stream: _Stream, result: JobResult, state: _State) -> bool:
    """Account for one event; return whether it is the terminal one (``done`` or ``error``)."""
    stream.events += 1
    stream.last_id = event.get("id") or stream.last_id
    kind = event["event"]
    now = time.monotonic()
    if kind == "token":
        if stream.first_token is None:
            stream.first_token = now
            result.ttft_s = now - stream.posted
        count = int(json.loads(event.get("data", "{}")).get("count", 1))
        result.tokens += count
        state.tokens += count
    elif kind == "retry":  # the job starts over: its partial answer is void
        stream.first_token, result.ttft_s, result.tokens = None, None, 0
    elif kind in ("done", "error"):
        result.outcome = kind
        result.e2e_s = now - stream.posted
        if kind == "error":
            result.detail = event.get("data", "")[:200]
        first = stream.first_token
        if first is not None and now > first and result.tokens > 1:
            result.tokens_per_s = (result.tokens - 1) / (now - first)
        return True
    return False


async def _read_once(
    client: httpx.AsyncClient, job_id: str, stream: _Stream, result: JobResult, state: _State
) -> bool:
    """One connection to the job's events; return whether the job's outcome is known (a
    terminal event, or a status other than 200)."""
    headers = {"Last-Event-ID": stream.last_id} if stream.last_id else {}
    async with client.stream("GET", f"/api/v1/chat/{job_id}/events", headers=headers) as response:
        if response.status_code != 200:
            result.outcome = f"http_{response.status_code}"
            return True
        async for event in sse_events(response.aiter_bytes()):
            if "event" in event and _on_event(event, stream, result, state):
                return True
    return False


async def _follow(
    client: httpx.AsyncClient, job_id: str, posted: float, result: JobResult, state: _State
) -> None:
    """Read the job's events to the terminal one, resuming with ``Last-Event-ID``; fill
    ``result``.

    Only connections that bring no new event spend the budget (:data:`MAX_RESUMES` in a row):
    a server that recycles connections (``ECO2_SSE_MAX_CONNECTION_S``) while the job goes on
    is followed to the end, and a stream that stopped moving is still given up on.
    """
    stream = _Stream(posted)
    stalled = connections = 0
    while stalled <= MAX_RESUMES:
        if connections:
            result.recoveries += 1
        connections += 1
        seen = stream.events
        try:
            if await _read_once(client, job_id, stream, result, state):
                return
        except httpx.HTTPError as exc:  # a dropped connection: resume from the last id
            result.detail = f"{type(exc).__name__}: {exc}"[:200]
            if stream.last_id is None and connections >= TRANSPORT_ATTEMPTS:
                result.outcome = "transport"
                return
        stalled = 0 if stream.events > seen else stalled + 1
    result.outcome = "no_terminal"


async def _iteration(client: httpx.AsyncClient, intent: str, t0: float, state: _State) -> JobResult:
    posted = time.monotonic()
    result = JobResult(intent=intent, start=posted - t0, outcome="transport")
    try:
        response = await client.post("/api/v1/chat", json={"message": MESSAGES[intent]})
    except httpx.HTTPError as exc:
        result.detail = f"{type(exc).__name__}: {exc}"[:200]
        return result
    job_id = None
    if response.status_code in (200, 202):
        try:
            job_id = response.json().get("job_id")
        except ValueError:
            job_id = None
    if not job_id:
        result.outcome = f"http_{response.status_code}"
        result.detail = response.text[:200]
        return result
    state.streams += 1
    try:
        await _follow(client, str(job_id), posted, result, state)
    finally:
        state.streams -= 1
    return result


async def run_load(
    url: str,
    users: int,
    duration_s: float,
    ramp_s: float = 0.0,
    intents: list[str] | None = None,
    think_s: float = 1.0,
    timeout_s: float = 120.0,
    seed: int | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> RunResult:
    """Ramp ``users`` up over ``ramp_s``, hold ``duration_s``, ramp down over ``ramp_s``.

    Args:
        url: Base URL of the service (``http``/``https``).
        users: Virtual users to hold.
        duration_s: Seconds every user is running.
        ramp_s: Seconds to start the users, and again to stop them (see the module docstring).
        intents: Intents to draw from (default all of :data:`MESSAGES`).
        think_s: Pause after each job.
        timeout_s: HTTP timeout of one read; the events stream resumes after it.
        seed: Seed of the intent draws.
        transport: HTTP transport to use instead of the network (tests).

    Returns:
        Every job's result and a timeline of the run, one tick a second.
    """
    chosen = list(intents or MESSAGES)
    result = RunResult(users, duration_s, ramp_s, chosen)
    rng = random.Random(seed)
    state = _State()
    t0 = time.monotonic()
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    timeout = httpx.Timeout(timeout_s, connect=10.0)

    async def user(index: int, client: httpx.AsyncClient) -> None:
        begin = ramp_s * index / users
        end = ramp_s + duration_s + ramp_s * (users - index) / users
        await asyncio.sleep(begin)
        state.users += 1
        try:
            while time.monotonic() - t0 < end:
                job = await _iteration(client, rng.choice(chosen), t0, state)
                result.jobs.append(job)
                if job.ok:
                    state.completed += 1
                else:
                    state.failed += 1
                remaining = end - (time.monotonic() - t0)
                await asyncio.sleep(min(think_s, max(0.0, remaining)))
        finally:
            state.users -= 1

    async def sampler() -> None:
        while True:
            result.timeline.append(
                Tick(
                    round(time.monotonic() - t0, 3),
                    state.users,
                    state.streams,
                    state.completed,
                    state.failed,
                    state.tokens,
                )
            )
            await asyncio.sleep(1.0)

    base = url.rstrip("/")
    async with httpx.AsyncClient(
        base_url=base, limits=limits, timeout=timeout, transport=transport
    ) as client:
        ticks = asyncio.create_task(sampler())
        try:
            await asyncio.gather(*(user(i, client) for i in range(users)))
        finally:
            ticks.cancel()
            result.timeline.append(
                Tick(
                    round(time.monotonic() - t0, 3),
                    0,
                    0,
                    state.completed,
                    state.failed,
                    state.tokens,
                )
            )
    result.wall_s = time.monotonic() - t0
    return result
