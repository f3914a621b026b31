"""Decoding Redis stream replies into ``StreamEvent``s, whatever protocol the client speaks."""

from __future__ import annotations

import json
import logging
from typing import Any

from eco2.domain.events import EventType, StreamEvent

log = logging.getLogger(__name__)


def text(value: bytes | str) -> str:
    """A reply value as ``str``, whether the client decodes responses or not."""
    return value.decode() if isinstance(value, bytes) else str(value)


def stream_entries(response: Any) -> list[tuple[Any, Any]]:
    """Entries of the one stream an ``XREAD`` read (see :func:`streams_of`)."""
    streams = streams_of(response)
    return streams[0][1] if streams else []


def streams_of(response: Any) -> list[tuple[str, list[tuple[Any, Any]]]]:
    """``(key, entries)`` per stream of an ``XREAD`` reply, whatever the protocol settings.

    RESP2 (and legacy RESP3) clients return ``[[key, entries], …]``; unified responses
    ``{key: entries}``; older RESP3 parsing ``{key: [entries]}``.
    """
    if not response:
        return []
    pairs = response.items() if isinstance(response, dict) else response
    streams = []
    for key, entries in pairs:
        if len(entries) == 1 and isinstance(entries[0], list):
            entries = entries[0]
        streams.append((text(key), list(entries)))
    return streams


def parse_entry(job_id: str, raw_id: Any, fields: Any) -> StreamEvent | None:
    """The event of one stream entry; ``None`` (logged) when the entry is malformed."""
    entry_id = text(raw_id) if raw_id is not None else None
    try:
        values = {text(k): text(v) for k, v in fields.items()}
        payload = json.loads(values["data"])
        if not isinstance(payload, dict) or entry_id is None:
            raise ValueError("payload is not a JSON object")
        return StreamEvent(int(values["seq"]), EventType(values["type"]), payload, entry_id)
    except (AttributeError, KeyError, TypeError, ValueError, UnicodeDecodeError) as exc:
        log.warning(
            "event_stream_entry_malformed",
            extra={"job_id": job_id, "entry_id": entry_id, "error": type(exc).__name__},
        )
        return None
