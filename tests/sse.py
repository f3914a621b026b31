"""A small SSE parser for tests (``id``, ``event``, ``data`` fields; comments skipped)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SseEvent:
    id: str
    event: str
    data: dict[str, Any]


def parse_sse(text: str) -> list[SseEvent]:
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields[name] = fields.get(name, "") + value.removeprefix(" ")
        if "event" in fields:
            events.append(
                SseEvent(fields.get("id", ""), fields["event"], json.loads(fields["data"]))
            )
    return events
