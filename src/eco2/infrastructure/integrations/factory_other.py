"""Builds the character, web-search and image-generation adapters from ``IntegrationSettings``.

- ``characters``: ``GrpcCharacterCatalog`` when ``ECO2_CHARACTER_GRPC_TARGET`` is set
  (distributed mode), else the in-process ``LocalCharacterCatalog`` (embedded mode);
- ``web_search``: Tavily when ``ECO2_TAVILY_API_KEY`` is set, else DuckDuckGo (``ddgs``);
- ``image_generation``: OpenAI Images at ``ECO2_IMAGE_BASE_URL`` when ``OPENAI_API_KEY`` is set,
  else the not-configured adapter.

Nothing connects here; the HTTP clients and the gRPC channel open on first use.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
from opentelemetry.trace import TracerProvider
from pydantic import SecretStr

from eco2.infrastructure.integrations.character_grpc.client import GrpcCharacterCatalog
from eco2.infrastructure.integrations.characters import LocalCharacterCatalog
from eco2.infrastructure.integrations.config import IntegrationSettings
from eco2.infrastructure.integrations.factory import build_provider
from eco2.infrastructure.integrations.http.breaker import BreakerObserver
from eco2.infrastructure.integrations.http.client import HttpProvider
from eco2.infrastructure.integrations.image_generation import OpenAIImageGeneration
from eco2.infrastructure.integrations.not_configured import (
    NotConfiguredImageGeneration,
    NotConfiguredWebSearch,
)
from eco2.infrastructure.integrations.web_search import DuckDuckGoSearch, TavilySearch

IMAGE_TIMEOUT_S = 95.0
"""The image sub-agent's default timeout (ECO2_IMAGE_SUBAGENT_TIMEOUT_S): generation takes tens
of seconds, so the image provider's budget is derived from it, not from the providers' default
(ECO2_HTTP_DEADLINE_S, 4.5 s, would cut every generation short after the billed request)."""
IMAGE_MARGIN_S = 2.0
"""The provider's deadline ends this much before the sub-agent's timeout, so a hung provider is
a failure its breaker counts rather than a cancellation it does not."""


def build_other_integrations(
    settings: IntegrationSettings,
    *,
    tracer_provider: TracerProvider | None = None,
    observer: BreakerObserver | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    image_timeout_s: float = IMAGE_TIMEOUT_S,
) -> dict[str, object]:
    """Return ``characters``, ``web_search`` and ``image_generation`` adapters.

    The dict also holds ``providers`` (the ``HttpProvider`` tuple) and ``aclose`` (an async
    callable closing every client and channel: call it on shutdown).

    Args:
        settings: Integration settings.
        tracer_provider: When given, HTTP requests and gRPC calls are child spans.
        observer: Breaker state observer ``(provider, state)``.
        transport: HTTP transport override (tests, local checks).
    """
    providers: list[HttpProvider] = []

    def provider(
        name: str, base_url: str, key: SecretStr, tuned: IntegrationSettings
    ) -> HttpProvider:
        built = build_provider(
            name,
            base_url,
            key,
            tuned,
            observer=observer,
            tracer_provider=tracer_provider,
            transport=transport,
        )
        providers.append(built)
        return built

    characters: GrpcCharacterCatalog | LocalCharacterCatalog = LocalCharacterCatalog()
    grpc_client: GrpcCharacterCatalog | None = None
    if settings.character_grpc_target:
        grpc_client = GrpcCharacterCatalog(
            settings.character_grpc_target,
            settings.character_timeout_s,
            tracer_provider=tracer_provider,
        )
        characters = grpc_client

    web_search: TavilySearch | DuckDuckGoSearch | NotConfiguredWebSearch = NotConfiguredWebSearch()
    if settings.tavily_api_key is not None:
        tavily = provider("tavily", settings.tavily_base_url, settings.tavily_api_key, settings)
        web_search = TavilySearch(tavily, settings.tavily_api_key)
    elif settings.duckduckgo_enabled:
        timeout = settings.http_connect_timeout_s + settings.http_read_timeout_s
        web_search = DuckDuckGoSearch(timeout_s=timeout)

    images: OpenAIImageGeneration | NotConfiguredImageGeneration = NotConfiguredImageGeneration()
    if settings.openai_api_key is not None:
        deadline = image_timeout_s - min(IMAGE_MARGIN_S, image_timeout_s / 2)
        # One attempt fits when the timeout leaves room for connecting; the deadline caps it.
        read = max(deadline / 2, deadline - settings.http_connect_timeout_s)
        slow = settings.model_copy(
            update={"http_read_timeout_s": read, "http_deadline_s": deadline}
        )
        base_url = settings.image_base_url
        openai = provider("openai_images", base_url, settings.openai_api_key, slow)
        images = OpenAIImageGeneration(openai, settings.openai_api_key, model=settings.image_model)

    async def aclose() -> None:
        for each in providers:
            await each.aclose()
        if grpc_client is not None:
            await grpc_client.close()
        if isinstance(web_search, DuckDuckGoSearch):
            await web_search.close()

    closer: Callable[[], Awaitable[None]] = aclose
    return {
        "characters": characters,
        "web_search": web_search,
        "image_generation": images,
        "providers": tuple(providers),
        "aclose": closer,
    }
