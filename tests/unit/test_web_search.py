"""Web search: Tavily against a local server with its documented payloads, DuckDuckGo through a
fake ``ddgs`` package, and the factory's choice between them. No test touches the internet."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from ddgs.exceptions import DDGSException, RatelimitException, TimeoutException
from pydantic import SecretStr

from eco2.domain.errors import SubagentError
from eco2.domain.knowledge import SearchResult
from eco2.infrastructure.integrations.config import IntegrationSettings
from eco2.infrastructure.integrations.factory import build_provider
from eco2.infrastructure.integrations.factory_other import build_other_integrations
from eco2.infrastructure.integrations.http.client import HttpProvider
from eco2.infrastructure.integrations.http.errors import (
    MalformedResponseError,
    ProviderAuthError,
    ProviderErrorCode,
    ProviderRateLimitedError,
    ProviderUnavailableError,
)
from eco2.infrastructure.integrations.not_configured import NotConfiguredWebSearch
from eco2.infrastructure.integrations.web_search import DuckDuckGoSearch, TavilySearch
from tests.fakes.providers.ddgs_fake import FakeDDGS, ddgs_hit
from tests.fakes.providers.scripted_server import ScriptedJsonServer
from tests.fakes.providers.tavily import tavily_error, tavily_response, tavily_result
from tests.fakes.server import serving

KEY = "tvly-test-0123456789abcdef"
HITS = [
    tavily_result("페트병 분리배출 방법", "https://example.org/pet", "라벨을 떼고 헹궈서 배출"),
    tavily_result("투명 페트병 별도 배출", "https://example.org/clear-pet", "투명 페트병 전용"),
]


@pytest.fixture
def tavily_server() -> Iterator[tuple[ScriptedJsonServer, str]]:
    fake = ScriptedJsonServer("/search")
    with serving(fake.app(), "tavily") as url:
        yield fake, url


@pytest.fixture
async def tavily() -> AsyncIterator[Callable[..., TavilySearch]]:
    providers: list[HttpProvider] = []

    def make(url: str, read_timeout_s: float = 5.0) -> TavilySearch:
        settings = IntegrationSettings(
            ECO2_TAVILY_BASE_URL=url,
            ECO2_HTTP_RETRIES=2,
            ECO2_HTTP_BACKOFF_BASE_S=0,
            ECO2_HTTP_READ_TIMEOUT_S=read_timeout_s,
        )
        provider = build_provider("tavily", url, SecretStr(KEY), settings)
        providers.append(provider)
        return TavilySearch(provider, SecretStr(KEY))

    yield make
    for provider in providers:
        await provider.aclose()


async def test_tavily_posts_the_documented_body_and_parses_results(
    tavily_server: tuple[ScriptedJsonServer, str],
    tavily: Callable[..., TavilySearch],
) -> None:
    fake, url = tavily_server
    fake.then(tavily_response("페트병 버리는 법", *HITS))
    hits = await tavily(url).search("페트병 버리는 법", max_results=3)
    assert hits == [
        SearchResult("페트병 분리배출 방법", "https://example.org/pet", "라벨을 떼고 헹궈서 배출"),
        SearchResult("투명 페트병 별도 배출", "https://example.org/clear-pet", "투명 페트병 전용"),
    ]
    headers, body = fake.requests[0]
    assert headers["authorization"] == f"Bearer {KEY}"
    assert body["query"] == "페트병 버리는 법"
    assert body["max_results"] == 3
    assert body["search_depth"] == "basic"


async def test_tavily_clamps_max_results_and_trims_extra_hits(
    tavily_server: tuple[ScriptedJsonServer, str],
    tavily: Callable[..., TavilySearch],
) -> None:
    fake, url = tavily_server
    fake.then(tavily_response("q", *HITS))
    assert len(await tavily(url).search("q", max_results=1)) == 1
    await tavily(url).search("q", max_results=500)
    assert [body["max_results"] for _, body in fake.requests] == [1, 20]


async def test_tavily_empty_results_are_an_empty_list(
    tavily_server: tuple[ScriptedJsonServer, str],
    tavily: Callable[..., TavilySearch],
) -> None:
    fake, url = tavily_server
    fake.then(tavily_response("없는 검색어"))
    assert await tavily(url).search("없는 검색어") == []


async def test_a_blank_query_calls_nobody(
    tavily_server: tuple[ScriptedJsonServer, str], tavily: Callable[..., TavilySearch]
) -> None:
    fake, url = tavily_server
    assert await tavily(url).search("   ") == []
    assert fake.requests == []


async def test_tavily_401_is_an_auth_error_without_the_key(
    tavily_server: tuple[ScriptedJsonServer, str],
    tavily: Callable[..., TavilySearch],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake, url = tavily_server
    fake.then(tavily_error(f"Unauthorized: invalid API key {KEY}"), 401)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ProviderAuthError) as caught:
        await tavily(url).search("q")
    assert KEY not in str(caught.value)
    assert KEY not in caplog.text
    assert len(fake.requests) == 1


async def test_tavily_429_with_retry_after_is_retried(
    tavily_server: tuple[ScriptedJsonServer, str],
    tavily: Callable[..., TavilySearch],
) -> None:
    fake, url = tavily_server
    fake.then(tavily_error("rate limit"), 429, **{"Retry-After": "0"})
    fake.then(tavily_response("q", *HITS))
    assert len(await tavily(url).search("q")) == 2
    assert len(fake.requests) == 2


async def test_tavily_persistent_429_is_a_rate_limit_error(
    tavily_server: tuple[ScriptedJsonServer, str],
    tavily: Callable[..., TavilySearch],
) -> None:
    fake, url = tavily_server
    fake.then(tavily_error("rate limit"), 429, **{"Retry-After": "0"})
    with pytest.raises(ProviderRateLimitedError) as caught:
        await tavily(url).search("q")
    assert caught.value.retry_after_s == 0
    assert len(fake.requests) == 3


async def test_tavily_plan_limit_is_an_error_code_and_not_retried(
    tavily_server: tuple[ScriptedJsonServer, str],
    tavily: Callable[..., TavilySearch],
) -> None:
    fake, url = tavily_server
    fake.then(tavily_error("This request exceeds your plan's set usage limit."), 432)
    with pytest.raises(ProviderErrorCode) as caught:
        await tavily(url).search("q")
    assert caught.value.code == "432"
    assert "usage limit" in str(caught.value)
    assert len(fake.requests) == 1


async def test_tavily_500_is_unavailable_after_retries(
    tavily_server: tuple[ScriptedJsonServer, str],
    tavily: Callable[..., TavilySearch],
) -> None:
    fake, url = tavily_server
    fake.then(tavily_error("internal"), 500)
    with pytest.raises(ProviderUnavailableError):
        await tavily(url).search("q")
    assert len(fake.requests) == 3


async def test_tavily_malformed_json_is_a_malformed_response(
    tavily_server: tuple[ScriptedJsonServer, str],
    tavily: Callable[..., TavilySearch],
) -> None:
    fake, url = tavily_server
    fake.then(b"{not json")
    with pytest.raises(MalformedResponseError):
        await tavily(url).search("q")
    fake.replies[:] = []
    fake.then({"query": "q", "answer": None})  # no `results`
    with pytest.raises(MalformedResponseError):
        await tavily(url).search("q")


async def test_tavily_slow_past_the_read_timeout_is_unavailable(
    tavily_server: tuple[ScriptedJsonServer, str],
    tavily: Callable[..., TavilySearch],
) -> None:
    fake, url = tavily_server
    fake.then(tavily_response("q", *HITS))
    fake.delay_s = 0.5
    with pytest.raises(ProviderUnavailableError) as caught:
        await tavily(url, read_timeout_s=0.1).search("q")
    assert "timed out" in str(caught.value)


async def test_duckduckgo_maps_ddgs_results() -> None:
    fake = FakeDDGS(
        results=[
            ddgs_hit("제로웨이스트 가이드", "https://example.org/zw", "생활 속 제로웨이스트"),
            ddgs_hit("", "https://example.org/untitled", ""),
        ]
    )
    search = DuckDuckGoSearch(region="kr-kr", searcher_factory=lambda: fake)
    hits = await search.search("제로웨이스트", max_results=50)
    assert hits == [
        SearchResult("제로웨이스트 가이드", "https://example.org/zw", "생활 속 제로웨이스트"),
        SearchResult("https://example.org/untitled", "https://example.org/untitled", ""),
    ]
    query, kwargs = fake.calls[0]
    assert query == "제로웨이스트"
    assert kwargs == {
        "region": "kr-kr",
        "safesearch": "moderate",
        "max_results": 20,
        "backend": "duckduckgo",
    }


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (RatelimitException("202 Ratelimit"), ProviderRateLimitedError),
        (TimeoutException("timed out"), ProviderUnavailableError),
        (DDGSException("boom"), ProviderUnavailableError),
    ],
)
async def test_duckduckgo_errors_are_typed(error: Exception, expected: type[SubagentError]) -> None:
    search = DuckDuckGoSearch(searcher_factory=lambda: FakeDDGS(error=error))
    with pytest.raises(expected):
        await search.search("q")


async def test_duckduckgo_no_results_is_an_empty_list() -> None:
    fake = FakeDDGS(error=DDGSException("No results found."))
    assert await DuckDuckGoSearch(searcher_factory=lambda: fake).search("q") == []


async def test_duckduckgo_past_its_timeout_is_unavailable() -> None:
    fake = FakeDDGS(results=[ddgs_hit("t", "https://example.org", "b")], delay_s=0.5)
    search = DuckDuckGoSearch(timeout_s=0.05, searcher_factory=lambda: fake)
    with pytest.raises(ProviderUnavailableError):
        await search.search("q")


async def test_duckduckgo_result_without_a_url_is_malformed() -> None:
    fake = FakeDDGS(results=[{"title": "no link"}])
    with pytest.raises(MalformedResponseError):
        await DuckDuckGoSearch(searcher_factory=lambda: fake).search("q")


async def test_the_factory_picks_tavily_with_a_key_and_duckduckgo_only_when_enabled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ECO2_TAVILY_API_KEY", raising=False)
    monkeypatch.delenv("ECO2_DUCKDUCKGO_ENABLED", raising=False)
    offline = build_other_integrations(IntegrationSettings())
    assert isinstance(offline["web_search"], NotConfiguredWebSearch)  # no network by default
    plain = build_other_integrations(IntegrationSettings(ECO2_DUCKDUCKGO_ENABLED=True))
    assert isinstance(plain["web_search"], DuckDuckGoSearch)
    keyed = build_other_integrations(IntegrationSettings(ECO2_TAVILY_API_KEY=KEY))
    assert isinstance(keyed["web_search"], TavilySearch)
    for built in (offline, plain, keyed):
        aclose = built["aclose"]
        assert callable(aclose)
        await aclose()


class StuckDDGS:
    """A ``ddgs`` searcher that blocks its thread until released (a search that never ends)."""

    def __init__(self, release: threading.Event) -> None:
        self._release = release

    def text(self, query: str, **_: Any) -> list[dict[str, Any]]:
        self._release.wait(10)
        return []


async def test_given_up_duckduckgo_searches_do_not_starve_the_default_executor() -> None:
    release = threading.Event()
    search = DuckDuckGoSearch(timeout_s=0.05, searcher_factory=lambda: StuckDDGS(release))
    try:
        default_threads = min(32, (os.cpu_count() or 1) + 4)  # asyncio's default executor
        for _ in range(default_threads + 1):
            with pytest.raises(ProviderUnavailableError):
                await search.search("q")
        # Everything else that runs a thread (DNS lookups, file reads) still gets one at once.
        assert await asyncio.wait_for(asyncio.to_thread(lambda: "free"), 2) == "free"
    finally:
        release.set()
        await search.close()
