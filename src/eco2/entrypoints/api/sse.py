"""Server-sent event frames of the job stream (DESIGN.md §4), encoded once per event.

``id:`` is the stream entry id, ``event:`` the type and ``data:`` the payload with its ``seq`` as
one line of JSON (``json.dumps`` escapes line breaks, so one ``data:`` line always suffices).
"""

from __future__ import annotations

import json

from eco2.domain.events import StreamEvent


def sse_frame(event: StreamEvent) -> bytes:
    """Return the SSE frame of ``event``, blank-line terminated."""
    data = json.dumps({"seq": event.seq, **event.payload}, ensure_ascii=False)
    return f"id: {event.id}\nevent: {event.type.value}\ndata: {data}\n\n".encode()


def retry_frame(reconnect_ms: int) -> bytes:
    """The frame that sets how long a client waits before reconnecting; it dispatches nothing."""
    return f"retry: {reconnect_ms}\n\n".encode()
