"""The offline trace view: a job's node waterfall, rebuilt from its own ``progress`` events."""

from __future__ import annotations

from collections.abc import Sequence

from eco2.domain.events import EventType, NodeTiming, StreamEvent


def node_waterfall(events: Sequence[StreamEvent]) -> list[NodeTiming]:
    """Return each node's start, duration and status, in start order.

    Only the last attempt counts (events after the last ``retry``). A node that started but has
    not finished is ``running`` with its duration so far (up to the last event seen).
    """
    retries = [i for i, e in enumerate(events) if e.type is EventType.RETRY]
    attempt = events[retries[-1] + 1 :] if retries else events
    started: dict[str, float] = {}
    nodes: dict[str, NodeTiming] = {}
    last_ms = 0.0
    for event in attempt:
        if event.type is not EventType.PROGRESS:
            continue
        payload = event.payload
        name, at_ms = str(payload["node"]), float(payload["at_ms"])
        last_ms = max(last_ms, at_ms)
        if payload["phase"] == "started":
            started[name] = at_ms
        else:
            duration = float(payload.get("duration_ms", 0.0))
            nodes[name] = NodeTiming(
                name, str(payload.get("status", "")), at_ms - duration, duration
            )
    for name, at_ms in started.items():
        if name not in nodes:
            nodes[name] = NodeTiming(name, "running", at_ms, last_ms - at_ms)
    return sorted(nodes.values(), key=lambda n: (n.start_ms, n.name))
