"""Server-sent event frames of the job stream (DESIGN.md §4), encoded once per event.

``id:`` is the stream entry id, ``event:`` the type and ``data:`` the payload with its ``seq`` as
one line of JSON (``json.dumps`` escapes line breaks, so one ``data:`` line always suffices).
"""

from __future__ import annotations

import json

from sse_starlette import EventSourceResponse
from starlette.types import Message, Send

from eco2.domain.events import StreamEvent


def sse_frame(event: StreamEvent) -> bytes:
    """Return the SSE frame of ``event``, blank-line terminated."""
    data = json.dumps({"seq": event.seq, **event.payload}, ensure_ascii=False)
    return f"id: {event.id}\nevent: {event.type.value}\ndata: {data}\n\n".encode()


def retry_frame(reconnect_ms: int) -> bytes:
    """The frame that sets how long a client waits before reconnecting; it dispatches nothing."""
    return f"retry: {reconnect_ms}\n\n".encode()


class EventStream(EventSourceResponse):
    """sse-starlette's response (keep-alive pings, disconnect and shutdown handling), minus a
    cancel scope around every send when no send timeout is set.

    With a thousand clients on one job that scope — an anyio ``move_on_after`` that looks up the
    running backend and task each time — was a sixth of the API's CPU per delivered chunk. A
    stalled client cannot pile up sends regardless: each client has one send in flight and the
    fan-out disconnects it when its buffer overflows.
    """

    async def _send_with_timeout(self, send: Send, message: Message) -> None:
        if self.send_timeout is None:
            await send(message)
        else:
            await super()._send_with_timeout(send, message)
