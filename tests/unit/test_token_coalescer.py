"""Token coalescing: fewer entries, same text, order kept, time-bounded."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from eco2.application.token_coalescer import TokenCoalescer
from eco2.domain.events import EventType, StreamEvent


class RecordingSink:
    def __init__(self) -> None:
        self.events: list[StreamEvent] = []

    async def publish(
        self, job_id: str, event_type: EventType, payload: dict[str, Any]
    ) -> StreamEvent:
        event = StreamEvent(len(self.events) + 1, event_type, payload)
        self.events.append(event)
        return event


async def test_flushes_every_n_tokens_and_keeps_text() -> None:
    sink = RecordingSink()
    out = TokenCoalescer(sink, "j", max_tokens=4, max_delay_s=10)
    for i in range(10):
        await out.token("answer", f"t{i} ")
    await out.aclose()
    assert [e.payload["count"] for e in sink.events] == [1, 4, 4, 1]
    assert "".join(e.payload["text"] for e in sink.events) == "".join(f"t{i} " for i in range(10))


async def test_a_token_after_a_quiet_spell_is_written_at_once() -> None:
    sink = RecordingSink()
    out = TokenCoalescer(sink, "j", max_tokens=100, max_delay_s=10)
    await out.token("answer", "a")  # no write yet in this stream: no reason to wait
    assert [e.payload["text"] for e in sink.events] == ["a"]


async def test_tokens_inside_the_interval_wait_for_the_next_slot() -> None:
    sink = RecordingSink()
    out = TokenCoalescer(sink, "j", max_tokens=100, max_delay_s=0.05)
    for text in ("a", "b", "c"):
        await out.token("answer", text)
    assert [e.payload["text"] for e in sink.events] == ["a"]
    await asyncio.sleep(0.15)
    assert [e.payload["text"] for e in sink.events] == ["a", "bc"]
    assert sink.events[1].payload["count"] == 2


async def test_a_waiting_token_is_written_as_soon_as_a_write_may_follow() -> None:
    # At three quarters of the interval, not a whole one: after one late token, a model that
    # streams at about the write rate would otherwise wait for every later token.
    sink = RecordingSink()
    out = TokenCoalescer(sink, "j", max_tokens=100, max_delay_s=1.0)
    await out.token("answer", "a")
    await out.token("answer", "b")
    await asyncio.sleep(0.5)
    assert [e.payload["text"] for e in sink.events] == ["a"]
    await asyncio.sleep(0.43)  # 0.93 s: past the timer (0.75 + 0.1), short of a whole interval
    assert [e.payload["text"] for e in sink.events] == ["a", "b"]


async def test_other_events_flush_first_and_node_changes_split() -> None:
    sink = RecordingSink()
    out = TokenCoalescer(sink, "j", max_tokens=100, max_delay_s=10)
    await out.token("summarize", "s")
    await out.token("answer", "a")
    await out.token("answer", "b")
    await out.event(EventType.DONE, {"answer": "ab"})
    assert [(e.type, e.payload.get("node")) for e in sink.events] == [
        (EventType.TOKEN, "summarize"),
        (EventType.TOKEN, "answer"),
        (EventType.DONE, None),
    ]
    assert sink.events[1].payload == {"node": "answer", "text": "ab", "count": 2}


async def test_a_failed_timer_write_fails_the_next_call() -> None:
    class FailingSink(RecordingSink):
        async def publish(
            self, job_id: str, event_type: EventType, payload: dict[str, Any]
        ) -> StreamEvent:
            if len(self.events) == 1:
                raise ConnectionError("redis went away")
            return await super().publish(job_id, event_type, payload)

    out = TokenCoalescer(FailingSink(), "j", max_tokens=100, max_delay_s=0.02)
    await out.token("answer", "a")  # written at once
    await out.token("answer", "b")  # waits for the timer, whose write fails
    await asyncio.sleep(0.1)
    with pytest.raises(ConnectionError):  # a lost write never goes unnoticed
        await out.token("answer", "c")


async def test_a_write_in_flight_keeps_its_node_for_the_metrics() -> None:
    """The next node's first token may arrive while the timer's write of the last one waits."""

    class SlowSink(RecordingSink):
        async def publish(self, job_id: str, event_type: EventType, payload: Any) -> StreamEvent:
            if payload["text"] == "b":
                await asyncio.sleep(0.05)  # a Redis round trip under load
            return await super().publish(job_id, event_type, payload)

    class Tracker:
        def __init__(self) -> None:
            self.seen: list[tuple[str, int]] = []

        def tokens(self, node: str, produced_at: Any, durable_at: float) -> None:
            self.seen.append((node, len(produced_at)))

        def finish(self, status: str) -> None:
            pass

    sink, tracker = SlowSink(), Tracker()
    coalescer = TokenCoalescer(sink, "j", max_tokens=16, max_delay_s=0.01, tracker=tracker)
    await coalescer.token("answer", "a")  # written at once
    await coalescer.token("answer", "b")  # waits for the timer
    await asyncio.sleep(0.02)  # the timer's write of "b" is in flight
    await coalescer.token("summarize", "x")  # nothing buffered: the node switches
    await asyncio.sleep(0.1)
    await coalescer.aclose()
    assert tracker.seen == [("answer", 1), ("answer", 1), ("summarize", 1)]
