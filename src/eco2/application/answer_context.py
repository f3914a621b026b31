"""The context block the answer model reads: sub-agent results serialised between two tags.

The pipeline writes it into the prompt; the offline answer model parses it back, so a hosted
model and the offline one see exactly the same grounding.
"""

from __future__ import annotations

import json
from typing import Any

OPEN_TAG = "<eco2_context>"
CLOSE_TAG = "</eco2_context>"


def render_context_block(intents: list[str], contexts: list[dict[str, Any]]) -> str:
    """Serialise the intents and sub-agent contexts into the tagged block."""
    body = json.dumps({"intents": intents, "contexts": contexts}, ensure_ascii=False)
    return f"{OPEN_TAG}\n{body}\n{CLOSE_TAG}"


def parse_context_block(text: str) -> dict[str, Any] | None:
    """Return the block's ``{"intents", "contexts"}`` or ``None`` when ``text`` has no block."""
    start = text.find(OPEN_TAG)
    end = text.find(CLOSE_TAG, start + len(OPEN_TAG))
    if start < 0 or end < 0:
        return None
    try:
        parsed = json.loads(text[start + len(OPEN_TAG) : end])
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None
