"""A lean Server-Sent Events reader for the load-test client.

The load generator shares the host with the service it measures, so its own CPU per event
matters: this splits the raw byte stream into frames once instead of decoding and yielding it
line by line, and leaves field values as text for the caller to parse only when it needs them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator


def _frame_fields(frame: bytes) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in frame.split(b"\n"):
        if not line or line.startswith(b":"):
            continue  # a comment (keep-alive)
        name, _, value = line.partition(b":")
        key = name.decode()
        text = value.removeprefix(b" ").decode()
        # Per the SSE rules, several data lines of one event join with a newline.
        fields[key] = f"{fields[key]}\n{text}" if key == "data" and key in fields else text
    return fields


async def sse_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[dict[str, str]]:
    """Yield each event's fields (``id``, ``event``, ``data``…) from a stream of byte chunks.

    Frames that carry no field (keep-alive comments) are skipped; ``\\r\\n`` and ``\\r`` line
    ends are read as ``\\n``.
    """
    buffer = b""
    async for chunk in chunks:
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buffer += chunk
        if b"\n\n" not in buffer:
            continue
        *frames, buffer = buffer.split(b"\n\n")
        for frame in frames:
            fields = _frame_fields(frame)
            if fields:
                yield fields
