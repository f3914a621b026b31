"""Adapters for sub-agents whose real client is not configured: they say so, clearly."""

from __future__ import annotations

from eco2.domain.chat import GeoPoint
from eco2.domain.errors import NotConfiguredError
from eco2.domain.knowledge import (
    CollectionPoint,
    GeneratedImage,
    Place,
    SearchResult,
    WeatherReport,
)


class NotConfiguredWeather:
    """``WeatherPort`` without a KMA key."""

    async def report(self, near: GeoPoint | None, text: str) -> WeatherReport:
        """Raise: weather needs ``ECO2_DATA_GO_KR_API_KEY``."""
        raise NotConfiguredError("weather (KMA) is not configured: ECO2_DATA_GO_KR_API_KEY unset")


class NotConfiguredLocation:
    """``LocationPort`` without a Kakao key."""

    async def search(self, text: str, near: GeoPoint | None) -> list[Place]:
        """Raise: place search needs ``ECO2_KAKAO_API_KEY``."""
        raise NotConfiguredError("place search (Kakao Local) is not configured")


class NotConfiguredCollectionPoints:
    """``CollectionPointPort`` without an odcloud key."""

    async def find(self, text: str, near: GeoPoint | None) -> list[CollectionPoint]:
        """Raise: collection points need ``ECO2_ODCLOUD_API_KEY``."""
        raise NotConfiguredError("collection points (KECO open data) are not configured")


class NotConfiguredWebSearch:
    """``WebSearchPort`` with no search backend."""

    async def search(self, query: str, max_results: int = 5) -> list[SearchResult]:
        """Raise: web search has no backend in offline mode."""
        raise NotConfiguredError("web search is not configured")


class NotConfiguredImageGeneration:
    """``ImageGenerationPort`` without an OpenAI key."""

    async def generate(self, prompt: str) -> GeneratedImage:
        """Raise: image generation needs ``OPENAI_API_KEY``."""
        raise NotConfiguredError("image generation is not configured: OPENAI_API_KEY unset")
