"""A stand-in for ``ddgs.DDGS``: canned ``text`` results or a raised ``ddgs`` exception."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


def ddgs_hit(title: str, href: str, body: str) -> dict[str, Any]:
    """One ``DDGS().text`` result as the package returns it."""
    return {"title": title, "href": href, "body": body}


@dataclass
class FakeDDGS:
    """Records every ``text`` call; returns ``results`` or raises ``error`` after ``delay_s``."""

    results: list[dict[str, Any]] = field(default_factory=list)
    error: Exception | None = None
    delay_s: float = 0.0
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def text(self, query: str, **kwargs: Any) -> list[dict[str, Any]]:
        self.calls.append((query, kwargs))
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.error is not None:
            raise self.error
        limit = kwargs.get("max_results") or len(self.results)
        return self.results[:limit]
