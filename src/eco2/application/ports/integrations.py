"""Ports for the sub-agents' data sources: local catalogues and external APIs.

Adapters raise ``NotConfiguredError`` when a key or endpoint is missing and ``SubagentError``
when the source fails; the pipeline turns both into a marked context, never a failed job.
"""

from __future__ import annotations

from typing import Protocol

from eco2.domain.chat import GeoPoint
from eco2.domain.knowledge import (
    BulkWasteQuote,
    Character,
    CollectionPoint,
    GeneratedImage,
    Place,
    PriceQuote,
    SearchResult,
    WeatherReport,
)


class CharacterCatalogPort(Protocol):
    """The Eco² character catalogue."""

    async def find(self, text: str, categories: list[str]) -> list[Character]:
        """Return characters named in ``text`` or standing for ``categories``, best first."""
        ...

    async def list_all(self) -> list[Character]:
        """Return every character."""
        ...


class RecyclablePricePort(Protocol):
    """Surveyed prices of recyclables."""

    async def quote(self, text: str) -> list[PriceQuote]:
        """Return prices of the recyclables named in ``text`` (all items when none is named)."""
        ...


class BulkWastePort(Protocol):
    """Bulk-waste procedures and fees by district."""

    async def quote(self, text: str) -> list[BulkWasteQuote]:
        """Return fee quotes for the bulk items (and district, if any) named in ``text``."""
        ...


class WeatherPort(Protocol):
    """Current weather and short-term forecast."""

    async def report(self, near: GeoPoint | None, text: str) -> WeatherReport:
        """Return the weather at ``near`` or a place named in ``text`` (a default otherwise)."""
        ...


class LocationPort(Protocol):
    """Place search."""

    async def search(self, text: str, near: GeoPoint | None) -> list[Place]:
        """Return places matching ``text`` near ``near`` or a place named in ``text``."""
        ...


class CollectionPointPort(Protocol):
    """Dedicated collection boxes."""

    async def find(self, text: str, near: GeoPoint | None) -> list[CollectionPoint]:
        """Return collection points for the item kind named in ``text``."""
        ...


class WebSearchPort(Protocol):
    """Live web search."""

    async def search(self, query: str, max_results: int = 5) -> list[SearchResult]:
        """Return up to ``max_results`` hits."""
        ...


class ImageGenerationPort(Protocol):
    """Image generation."""

    async def generate(self, prompt: str) -> GeneratedImage:
        """Return an image made from ``prompt``."""
        ...
