"""Builds the HTTP-backed integration adapters from :class:`IntegrationSettings`.

Each provider gets its own client (timeouts, pool limits, optional OpenTelemetry spans), retry
policy and circuit breaker. A provider without its key gets the not-configured adapter (bulk waste
falls back to the local fee tables, which need no key). Nothing connects until a call is made.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
from opentelemetry.trace import TracerProvider
from pydantic import SecretStr

from eco2.infrastructure.integrations.bulk_waste import LocalBulkWasteFees
from eco2.infrastructure.integrations.config import IntegrationSettings
from eco2.infrastructure.integrations.http.breaker import BreakerObserver, CircuitBreaker
from eco2.infrastructure.integrations.http.client import HttpProvider, create_async_client
from eco2.infrastructure.integrations.http.retry import RetryPolicy
from eco2.infrastructure.integrations.http.scrub import Scrubber
from eco2.infrastructure.integrations.kakao import KakaoLocal
from eco2.infrastructure.integrations.keco import KecoCollectionPoints
from eco2.infrastructure.integrations.kma import KmaWeather
from eco2.infrastructure.integrations.kma_grid import NamedPlace
from eco2.infrastructure.integrations.mois import MoisBulkWaste
from eco2.infrastructure.integrations.not_configured import (
    NotConfiguredCollectionPoints,
    NotConfiguredLocation,
    NotConfiguredWeather,
)


def build_provider(
    name: str,
    base_url: str,
    key: SecretStr | None,
    settings: IntegrationSettings,
    *,
    observer: BreakerObserver | None = None,
    tracer_provider: TracerProvider | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> HttpProvider:
    """Return one provider's :class:`HttpProvider` configured from ``settings``.

    Args:
        name: Provider name (``kakao``, ``kma``, ``mois``, ``keco``).
        base_url: The provider's base URL.
        key: Its key, registered with the scrubber so it never reaches logs, spans or errors.
        settings: Timeouts, retry and breaker settings.
        observer: Told ``(provider, state)`` on breaker state changes.
        tracer_provider: When given, each request is a CLIENT child span.
        transport: Transport override (tests).
    """
    scrubber = Scrubber([key.get_secret_value()] if key else [])
    client = create_async_client(
        base_url=base_url,
        connect_timeout_s=settings.http_connect_timeout_s,
        read_timeout_s=settings.http_read_timeout_s,
        max_connections=settings.http_max_connections,
        transport=transport,
        tracer_provider=tracer_provider,
        scrubber=scrubber,
    )
    return HttpProvider(
        name,
        client,
        retry=RetryPolicy(
            retries=settings.http_retries,
            backoff_base_s=settings.http_backoff_base_s,
            backoff_max_s=settings.http_backoff_max_s,
            retry_after_max_s=settings.http_retry_after_max_s,
            deadline_s=settings.http_deadline_s,
        ),
        breaker=CircuitBreaker(
            name,
            failure_threshold=settings.breaker_failure_threshold,
            reset_timeout_s=settings.breaker_reset_timeout_s,
            observer=observer,
        ),
        scrubber=scrubber,
    )


def build_http_integrations(
    settings: IntegrationSettings,
    *,
    observer: BreakerObserver | None = None,
    tracer_provider: TracerProvider | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> dict[str, object]:
    """Return the adapters for ``weather``, ``location``, ``collection_points``, ``bulk_waste``.

    The dict also holds ``providers`` (the :class:`HttpProvider` list, for inspection) and
    ``aclose`` (an async callable closing every client: call it on shutdown).

    Args:
        settings: Integration settings.
        observer: Breaker state observer ``(provider, state)`` (e.g. a gauge setter).
        tracer_provider: When given, outbound calls are child spans.
        transport: Transport override for every provider (tests, local checks).
    """

    def provider(name: str, url: str, key: SecretStr | None) -> HttpProvider:
        built = build_provider(
            name,
            url,
            key,
            settings,
            observer=observer,
            tracer_provider=tracer_provider,
            transport=transport,
        )
        providers.append(built)
        return built

    providers: list[HttpProvider] = []
    data_key = settings.data_go_kr_api_key
    weather: object = NotConfiguredWeather()
    if data_key is not None:
        weather = KmaWeather(
            provider("kma", settings.kma_base_url, data_key),
            data_key,
            default_location=NamedPlace(
                settings.default_location_name,
                settings.default_latitude,
                settings.default_longitude,
            ),
        )
    location: object = NotConfiguredLocation()
    if settings.kakao_api_key is not None:
        location = KakaoLocal(
            provider("kakao", settings.kakao_base_url, settings.kakao_api_key),
            settings.kakao_api_key,
        )
    points: object = NotConfiguredCollectionPoints()
    if settings.odcloud_api_key is not None:
        points = KecoCollectionPoints(
            provider("keco", settings.keco_base_url, settings.odcloud_api_key),
            settings.odcloud_api_key,
            dataset_path=settings.keco_dataset_path,
        )
    bulk: object = LocalBulkWasteFees()
    if data_key is not None:
        bulk = MoisBulkWaste(
            provider("mois", settings.mois_base_url, data_key), data_key, fees=LocalBulkWasteFees()
        )

    async def aclose() -> None:
        for each in providers:
            await each.aclose()

    closer: Callable[[], Awaitable[None]] = aclose
    return {
        "weather": weather,
        "location": location,
        "collection_points": points,
        "bulk_waste": bulk,
        "providers": tuple(providers),
        "aclose": closer,
    }
