"""The worker side of ``eco2 bench stream``: one producer per job, emitting tokens at a paced rate.

Two designs, measured the same way:

- ``coalesced`` (the design, DESIGN.md §4): tokens go through :class:`TokenCoalescer` into the
  event stream: at most one write per ``flush_s`` per stream, of at most ``flush_tokens``.
- ``per-token`` (the naive comparator): every token is one ``publish`` — one Redis script call
  (``INCR`` + ``XADD``) — carrying the whole answer so far, which clients display as it is.

Each token's text is a marker naming its index and when it was produced (``bench_stream_common``);
the emission latency of a token is the time from its production until the ``publish`` call that
made its entry durable returned (for the coalesced design, as the coalescer's stream tracker —
the worker's metrics hook — reports it). Job starts are staggered within one token interval, as
real jobs would be, rather than all emitting in the same millisecond.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from eco2.application.ports.events import EventSinkPort
from eco2.application.token_coalescer import TokenCoalescer
from eco2.domain.events import EventType
from eco2.entrypoints.cli.bench_stream_common import encode_token

COALESCED = "coalesced"
PER_TOKEN = "per-token"
MODEL_ONLY = "model-only"  # the same paced tokens, written nowhere: the producers' own cost
DESIGNS = (COALESCED, PER_TOKEN)


@dataclass(frozen=True)
class ProducerPlan:
    """What every producer of a run does.

    Attributes:
        tokens: Tokens per job.
        rate: Tokens per second per job.
        flush_tokens: The coalescer's ``max_tokens``.
        flush_s: The coalescer's ``max_delay_s`` (writes are at least 3/4 of it apart).
        epoch_ns: ``time.time_ns()`` origin of the markers' timestamps.
    """

    tokens: int
    rate: float
    flush_tokens: int
    flush_s: float
    epoch_ns: int


@dataclass
class ProducerStats:
    """What the producers of one run measured.

    Attributes:
        tokens: Tokens produced (all jobs).
        entries: Token entries written to the streams.
        emission_ms: Per token: produced → its entry durable (the publish call returned).
        wall_s: Wall time of the run, first token scheduled to last ``done`` written.
        cpu_s: CPU time of this process during the run.
    """

    tokens: int = 0
    entries: int = 0
    emission_ms: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    cpu_s: float = 0.0


class _EmissionTracker:
    """The coalescer's ``StreamTracker``: each token's production → durable time, per entry.

    The same hook the worker's stream metrics use, so the bench adds no bookkeeping of its own
    to the coalesced path.
    """

    def __init__(self, stats: ProducerStats) -> None:
        self._stats = stats

    def tokens(self, node: str, produced_at: Sequence[float], durable_at: float) -> None:
        self._stats.entries += 1
        self._stats.emission_ms.extend([(durable_at - p) * 1000 for p in produced_at])

    def finish(self, status: str) -> None:
        """Nothing to close."""


async def _at(deadline: float) -> None:
    delay = deadline - asyncio.get_running_loop().time()
    if delay > 0:
        await asyncio.sleep(delay)


async def _coalesced(
    sink: EventSinkPort, job_id: str, plan: ProducerPlan, start: float, stats: ProducerStats
) -> None:
    coalescer = TokenCoalescer(
        sink,
        job_id,
        max_tokens=plan.flush_tokens,
        max_delay_s=plan.flush_s,
        tracker=_EmissionTracker(stats),
    )
    parts: list[str] = []
    for index in range(plan.tokens):
        await _at(start + index / plan.rate)
        text = encode_token(index, (time.time_ns() - plan.epoch_ns) // 1000)
        parts.append(text)
        await coalescer.token("answer", text)
    await coalescer.event(EventType.DONE, {"answer": "".join(parts)})
    await coalescer.aclose()


async def _per_token(
    sink: EventSinkPort, job_id: str, plan: ProducerPlan, start: float, stats: ProducerStats
) -> None:
    text = ""
    for index in range(plan.tokens):
        await _at(start + index / plan.rate)
        now = time.time_ns()
        text += encode_token(index, (now - plan.epoch_ns) // 1000)
        await sink.publish(job_id, EventType.TOKEN, {"node": "answer", "text": text, "count": 1})
        stats.emission_ms.append((time.time_ns() - now) / 1e6)
        stats.entries += 1
    await sink.publish(job_id, EventType.DONE, {"answer": text})


async def _model_only(
    sink: EventSinkPort, job_id: str, plan: ProducerPlan, start: float, stats: ProducerStats
) -> None:
    parts: list[str] = []
    for index in range(plan.tokens):
        await _at(start + index / plan.rate)
        parts.append(encode_token(index, (time.time_ns() - plan.epoch_ns) // 1000))


_PRODUCERS = {COALESCED: _coalesced, PER_TOKEN: _per_token, MODEL_ONLY: _model_only}


async def run_producers(
    sink: EventSinkPort, job_ids: list[str], design: str, plan: ProducerPlan
) -> ProducerStats:
    """Produce every job's tokens and its ``done`` event; measure this process's CPU time.

    Args:
        sink: The event stream (the real ``RedisEventStream``).
        job_ids: One producer per job; each stream must already hold its ``queued`` event.
        design: ``"coalesced"``, ``"per-token"`` or ``"model-only"`` (writes nothing).
        plan: Tokens, rate, coalescing bounds, timestamp origin.

    Returns:
        The run's statistics.

    Raises:
        ValueError: on an unknown design.
        Exception: whatever the sink raised (the other producers are cancelled).
    """
    produce = _PRODUCERS.get(design)
    if produce is None:
        raise ValueError(f"unknown design {design!r}")
    stats = ProducerStats(tokens=plan.tokens * len(job_ids))
    start = asyncio.get_running_loop().time() + 0.01
    stagger = 1 / plan.rate / max(1, len(job_ids))
    cpu, wall = time.process_time(), time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for k, job_id in enumerate(job_ids):
            group.create_task(produce(sink, job_id, plan, start + k * stagger, stats))
    stats.cpu_s = time.process_time() - cpu
    stats.wall_s = time.perf_counter() - wall
    return stats
