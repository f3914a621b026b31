"""The offline trace view: a job's node waterfall, rebuilt from its own ``progress`` events."""

from __future__ import annotations

from collections.abc import Sequence

from eco2.domain.events import EventType, NodeTiming, StreamEvent, entry_key


def node_waterfall(events: Sequence[StreamEvent]) -> list[NodeTiming]:
    """Return each node's start, duration and status, in start order.

    A finished job's ``done`` event carries its nodes; otherwise they come from its ``progress``
    events, of the last attempt only (those after the last ``retry``). A node that started but
    has not finished is ``running`` with its duration so far (up to the last event seen); once the
    attempt has its terminal event (a timeout, say, cut the node short) it is ``unfinished``,
    and its duration runs to that event (placed by its entry id's clock when ids carry one).
    """
    if events and events[-1].type is EventType.DONE and "nodes" in events[-1].payload:
        # The job's own record: complete even when the stream was trimmed to its length bound.
        return [NodeTiming(**node) for node in events[-1].payload["nodes"]]
    retries = [i for i, e in enumerate(events) if e.type is EventType.RETRY]
    attempt = events[retries[-1] + 1 :] if retries else events
    started: dict[str, float] = {}
    nodes: dict[str, NodeTiming] = {}
    last_ms = 0.0
    clock_offset: float | None = None  # entry-id milliseconds minus the job's own at_ms
    ended: StreamEvent | None = None
    for event in attempt:
        if event.type.terminal:
            ended = event
        if event.type is not EventType.PROGRESS:
            continue
        payload = event.payload
        name, at_ms = str(payload["node"]), float(payload["at_ms"])
        last_ms = max(last_ms, at_ms)
        if clock_offset is None and (written := _entry_ms(event)) is not None:
            clock_offset = written - at_ms
        if payload["phase"] == "started":
            started[name] = at_ms
        else:
            duration = float(payload.get("duration_ms", 0.0))
            nodes[name] = NodeTiming(
                name, str(payload.get("status", "")), at_ms - duration, duration
            )
    status, until_ms = "running", last_ms
    if ended is not None:
        status = "unfinished"
        written = _entry_ms(ended)
        if written is not None and clock_offset is not None:
            until_ms = max(last_ms, written - clock_offset)
    for name, at_ms in started.items():
        if name not in nodes:
            nodes[name] = NodeTiming(name, status, at_ms, until_ms - at_ms)
    return sorted(nodes.values(), key=lambda n: (n.start_ms, n.name))


def _entry_ms(event: StreamEvent) -> float | None:
    """When the event was written, by its entry id's millisecond clock (``None`` without one)."""
    try:
        return float(entry_key(event.id)[0]) if event.id else None
    except ValueError:
        return None
