"""A lean Server-Sent Events reader for the load-test client and the stream benchmark's clients.

The load generator shares the host with the service it measures, so its own CPU per event
matters: this splits the raw byte stream into frames once instead of decoding and yielding it
line by line, and leaves field values as text for the caller to parse only when it needs them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator


def frame_fields(frame: bytes) -> dict[str, str]:
    """The fields of one event frame (comments skipped; several ``data`` lines joined)."""
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
    ends are read as ``\\n``, also when a ``\\r\\n`` is split between two chunks.

    Args:
        chunks: The response body, in the pieces the transport delivered.

    Yields:
        The fields of each complete event frame.
    """
    buffer = b""
    async for chunk in chunks:
        frames, buffer = split_frames(buffer, chunk)
        for frame in frames:
            fields = frame_fields(frame)
            if fields:
                yield fields
    # The stream ended: a carriage return held back for its line feed is a line end after all.
    frames, _ = split_frames(buffer, b"", final=True)
    for frame in frames:
        fields = frame_fields(frame)
        if fields:
            yield fields


def split_frames(pending: bytes, chunk: bytes, final: bool = False) -> tuple[list[bytes], bytes]:
    """The whole frames in ``pending + chunk`` and the incomplete rest, to pass back next time.

    ``\\r\\n`` and ``\\r`` line ends are read as ``\\n``. A chunk ending in ``\\r`` may be
    the first half of a ``\\r\\n``: that ``\\r`` is kept at the end of the rest and read with
    the next chunk, lest it and the ``\\n`` count as two line ends (a false blank line that
    would cut an event in two).

    Args:
        pending: The rest returned by the previous call (``b""`` at first).
        chunk: The bytes just received.
        final: The stream has ended: a trailing ``\\r`` is a line end, not held back.

    Returns:
        The complete frames (without their blank line) and the rest.
    """
    if pending.endswith(b"\r"):  # held back last time: its \n, if any, starts this chunk
        pending, chunk = pending[:-1], b"\r" + chunk
    held = b""
    if chunk.endswith(b"\r") and not final:
        chunk, held = chunk[:-1], b"\r"
    if b"\r" in chunk:
        chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    buffer = pending + chunk
    if b"\n\n" not in buffer:
        return [], buffer + held
    *frames, rest = buffer.split(b"\n\n")
    return frames, rest + held
