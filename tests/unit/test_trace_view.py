"""The offline trace view: node waterfall from a job's progress events."""

from __future__ import annotations

from typing import Any

from eco2.application.trace_view import node_waterfall
from eco2.domain.events import EventType, StreamEvent


def progress(seq: int, node: str, phase: str, at: float, **extra: Any) -> StreamEvent:
    return StreamEvent(
        seq, EventType.PROGRESS, {"node": node, "phase": phase, "at_ms": at, **extra}
    )


def test_waterfall_keeps_parallel_branches_and_the_last_attempt_only() -> None:
    events = [
        progress(1, "intent", "started", 0),
        StreamEvent(2, EventType.RETRY, {"attempt": 2}),
        progress(3, "intent", "started", 1),
        progress(4, "intent", "finished", 3, status="ok", duration_ms=2),
        progress(5, "weather", "started", 4),
        progress(6, "bulk_waste", "started", 4),
        progress(7, "bulk_waste", "finished", 9, status="ok", duration_ms=5),
        progress(8, "weather", "finished", 14, status="timeout", duration_ms=10),
        progress(9, "answer", "started", 15),
    ]
    nodes = {n.name: n for n in node_waterfall(events)}
    assert nodes["intent"].start_ms == 1 and nodes["intent"].duration_ms == 2
    assert nodes["weather"].start_ms == nodes["bulk_waste"].start_ms == 4
    assert nodes["weather"].status == "timeout"
    assert nodes["answer"].status == "running"


def test_a_node_cut_short_by_the_jobs_end_is_unfinished_up_to_that_end() -> None:
    def at(event: StreamEvent, written_ms: int) -> StreamEvent:
        return StreamEvent(event.seq, event.type, event.payload, f"{written_ms}-0")

    events = [
        at(progress(1, "intent", "started", 0), 1_000),
        at(progress(2, "intent", "finished", 5, status="ok", duration_ms=5), 1_005),
        at(progress(3, "answer", "started", 6), 1_006),
        at(StreamEvent(4, EventType.ERROR, {"code": "timeout"}), 31_000),  # 30 s later
    ]
    nodes = {n.name: n for n in node_waterfall(events)}
    assert nodes["answer"].status == "unfinished"
    assert nodes["answer"].duration_ms == 30_000 - 6
    assert nodes["intent"].status == "ok"
    # Without entry ids the duration runs to the last progress event seen.
    bare = [StreamEvent(e.seq, e.type, e.payload) for e in events]
    assert {n.name: n for n in node_waterfall(bare)}["answer"].duration_ms == 0
