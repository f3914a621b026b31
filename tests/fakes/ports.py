"""Fake port adapters for tests: slow, failing and hanging sources."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from eco2.domain.chat import GeoPoint
from eco2.domain.knowledge import BulkWasteQuote, WeatherReport


@dataclass
class SlowWeather:
    """Answers after ``delay_s`` with a fixed rainy report; records calls."""

    delay_s: float = 0.0
    calls: int = 0

    async def report(self, near: GeoPoint | None, text: str) -> WeatherReport:
        self.calls += 1
        await asyncio.sleep(self.delay_s)
        return WeatherReport("서울 중구", 12.5, "비", 80, "2026-11-24 09:00", "비가 와요.")


class FailingWeather:
    """Raises an unexpected error."""

    async def report(self, near: GeoPoint | None, text: str) -> WeatherReport:
        raise RuntimeError("upstream exploded")


@dataclass
class HangingWeather:
    """Never answers (until cancelled)."""

    cancelled: bool = False

    async def report(self, near: GeoPoint | None, text: str) -> WeatherReport:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        raise AssertionError("unreachable")


@dataclass
class SlowBulkWaste:
    """Wraps a real bulk-waste port and delays it."""

    inner: object
    delay_s: float
    calls: list[str] = field(default_factory=list)

    async def quote(self, text: str) -> list[BulkWasteQuote]:
        self.calls.append(text)
        await asyncio.sleep(self.delay_s)
        result: list[BulkWasteQuote] = await self.inner.quote(text)  # type: ignore[attr-defined]
        return result
