"""Composition of the sub-agents' external sources (issue 5): configured or "not configured"."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from eco2.application.ports.integrations import (
    BulkWastePort,
    CharacterCatalogPort,
    CollectionPointPort,
    ImageGenerationPort,
    LocationPort,
    WeatherPort,
    WebSearchPort,
)
from eco2.infrastructure.integrations.config import IntegrationSettings
from eco2.infrastructure.integrations.factory import build_http_integrations
from eco2.infrastructure.integrations.factory_other import (
    IMAGE_TIMEOUT_S,
    build_other_integrations,
)

Closer = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Integrations:
    """The external sources and how to close their clients."""

    weather: WeatherPort
    location: LocationPort
    collection_points: CollectionPointPort
    bulk_waste: BulkWastePort
    characters: CharacterCatalogPort
    web_search: WebSearchPort
    image_generation: ImageGenerationPort
    closers: tuple[Closer, ...]


def build_integrations(
    settings: IntegrationSettings | None = None,
    *,
    observer: Callable[[str, str], None] | None = None,
    tracer_provider: Any = None,
    image_timeout_s: float = IMAGE_TIMEOUT_S,
) -> Integrations:
    """Build every source from the environment; a missing key gives a "not configured" one.

    Args:
        settings: Keys and base URLs (default: from the environment).
        observer: Receives ``(provider, breaker_state)`` changes (the metrics gauge).
        tracer_provider: OpenTelemetry provider: outbound calls become child spans.
        image_timeout_s: The image sub-agent's timeout; the image provider's budget fits in it.
    """
    settings = settings or IntegrationSettings()
    http = build_http_integrations(settings, observer=observer, tracer_provider=tracer_provider)
    other = build_other_integrations(
        settings,
        observer=observer,
        tracer_provider=tracer_provider,
        image_timeout_s=image_timeout_s,
    )
    return Integrations(
        weather=cast(WeatherPort, http["weather"]),
        location=cast(LocationPort, http["location"]),
        collection_points=cast(CollectionPointPort, http["collection_points"]),
        bulk_waste=cast(BulkWastePort, http["bulk_waste"]),
        characters=cast(CharacterCatalogPort, other["characters"]),
        web_search=cast(WebSearchPort, other["web_search"]),
        image_generation=cast(ImageGenerationPort, other["image_generation"]),
        closers=(cast(Closer, http["aclose"]), cast(Closer, other["aclose"])),
    )
