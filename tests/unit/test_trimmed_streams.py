"""A stream trimmed to its length bound: the job's views stay whole, or say they are not."""

from __future__ import annotations

from typing import Any

import httpx

from eco2.domain.events import EventType
from eco2.entrypoints.api.app import ApiDeps, create_app
from eco2.entrypoints.api.fanout import StreamFanout
from eco2.entrypoints.api.sse import sse_frame
from eco2.infrastructure.memory.event_stream import InMemoryEventStream
from eco2.infrastructure.memory.job_queue import InMemoryJobQueue
from eco2.infrastructure.prometheus.noop import NoOpMetrics

NODES = [
    {"name": "intent", "status": "ok", "start_ms": 1.0, "duration_ms": 2.0},
    {"name": "answer", "status": "ok", "start_ms": 5.0, "duration_ms": 900.0},
]


async def views(events: InMemoryEventStream, job_id: str) -> tuple[Any, Any]:
    fanout = StreamFanout(events, sse_frame)
    app = create_app(
        ApiDeps(events=events, queue=InMemoryJobQueue(), metrics=NoOpMetrics(), fanout=fanout)
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        snapshot = (await c.get(f"/api/v1/chat/{job_id}/snapshot")).json()
        trace = (await c.get(f"/api/v1/chat/{job_id}/trace")).json()
    return snapshot, trace


async def stream_of(events: InMemoryEventStream, tokens: int) -> str:
    await events.publish("job", EventType.QUEUED, {"job_id": "job"})
    for node in NODES:
        await events.publish(
            "job",
            EventType.PROGRESS,
            {"node": node["name"], "phase": "started", "at_ms": node["start_ms"]},
        )
        end = node["start_ms"] + node["duration_ms"]
        await events.publish(
            "job",
            EventType.PROGRESS,
            {
                "node": node["name"],
                "phase": "finished",
                "at_ms": end,
                "status": "ok",
                "duration_ms": node["duration_ms"],
            },
        )
    for i in range(tokens):
        await events.publish(
            "job", EventType.TOKEN, {"node": "answer", "text": f"t{i} ", "count": 1}
        )
    return "".join(f"t{i} " for i in range(tokens))


async def test_a_finished_job_is_whole_from_its_done_event() -> None:
    events = InMemoryEventStream(max_len=20)
    answer = await stream_of(events, 50)
    await events.publish("job", EventType.DONE, {"answer": answer, "nodes": NODES})
    snapshot, trace = await views(events, "job")
    assert snapshot["text"] == answer and snapshot["truncated"] is False
    assert trace["nodes"] == NODES and trace["truncated"] is False


async def test_a_running_job_whose_start_was_trimmed_says_so() -> None:
    events = InMemoryEventStream(max_len=20)
    answer = await stream_of(events, 50)
    snapshot, trace = await views(events, "job")
    assert snapshot["truncated"] is True and trace["truncated"] is True
    assert answer.endswith(snapshot["text"]) and snapshot["text"] != answer
    untrimmed = InMemoryEventStream()
    await stream_of(untrimmed, 5)
    snapshot, trace = await views(untrimmed, "job")
    assert snapshot["truncated"] is False and [n["name"] for n in trace["nodes"]] == [
        "intent",
        "answer",
    ]
