"""Web search adapters: Tavily (with ``ECO2_TAVILY_API_KEY``) and DuckDuckGo through ``ddgs``.

:func:`eco2.infrastructure.integrations.factory_other.build_other_integrations` picks Tavily when
its key is set, DuckDuckGo (no key) otherwise. Both raise the providers' typed errors
(``ProviderError`` subclasses, all ``SubagentError``), and both return an empty list for a query
with no hits.

- Tavily: ``POST {base_url}/search`` with ``{"query", "max_results", "search_depth", "topic",
  ...}`` and the key as a bearer token; the response's ``results[]`` carry ``title``, ``url``,
  ``content`` (and ``score``). 432/433 are Tavily's plan and pay-as-you-go limits: reported as
  error codes, not retried.
- DuckDuckGo: the ``ddgs`` package's synchronous ``DDGS().text`` run in a worker thread under
  an overall timeout; its results carry ``title``, ``href``, ``body``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import httpx
from pydantic import SecretStr

from eco2.domain.knowledge import SearchResult
from eco2.infrastructure.integrations.http.client import HttpProvider, json_body
from eco2.infrastructure.integrations.http.errors import (
    MalformedResponseError,
    ProviderError,
    ProviderErrorCode,
    ProviderRateLimitedError,
    ProviderUnavailableError,
)
from eco2.infrastructure.integrations.json_post import error_message, post_json

MAX_RESULTS = 20
"""Tavily's documented ceiling; DuckDuckGo is held to the same."""

_NO_RESULTS = "No results found"


def _clamp(max_results: int) -> int:
    return max(1, min(MAX_RESULTS, max_results))


class TavilySearch:
    """``WebSearchPort`` over the Tavily Search API.

    Args:
        provider: The ``tavily`` provider (client on ``ECO2_TAVILY_BASE_URL``, retries, breaker).
        api_key: ``ECO2_TAVILY_API_KEY``; sent as ``Authorization: Bearer …``, never logged.
        search_depth: ``basic`` (fast) or ``advanced``.
        topic: ``general`` or ``news``.
    """

    def __init__(
        self,
        provider: HttpProvider,
        api_key: SecretStr,
        *,
        search_depth: str = "basic",
        topic: str = "general",
    ) -> None:
        self._provider = provider
        self._key = api_key
        provider.scrub.add(api_key.get_secret_value())
        self._search_depth = search_depth
        self._topic = topic

    async def search(self, query: str, max_results: int = 5) -> list[SearchResult]:
        """Return up to ``max_results`` (clamped to 1–20) hits for ``query``.

        Raises:
            ProviderError: Auth, rate limit, plan limit, outage or a malformed response.
        """
        if not query.strip():
            return []
        body = {
            "query": query,
            "max_results": _clamp(max_results),
            "search_depth": self._search_depth,
            "topic": self._topic,
            "include_answer": False,
            "include_images": False,
            "include_raw_content": False,
        }
        headers = {"Authorization": f"Bearer {self._key.get_secret_value()}"}
        hits = await post_json(
            self._provider, "/search", body, self._parse, headers=headers, classify=self._classify
        )
        return hits[: _clamp(max_results)]

    def _classify(self, response: httpx.Response) -> ProviderError | None:
        if response.status_code in (432, 433):
            reason = "plan limit" if response.status_code == 432 else "pay-as-you-go limit"
            detail = self._provider.scrub(error_message(response))
            return ProviderErrorCode(
                self._provider.name, str(response.status_code), f"{reason}: {detail}"
            )
        return None

    def _parse(self, response: httpx.Response) -> list[SearchResult]:
        body = json_body(response, self._provider.name)
        results = body["results"]
        if not isinstance(results, list):
            raise MalformedResponseError(self._provider.name, "`results` is not a list")
        return [
            SearchResult(
                title=str(item.get("title") or item["url"]),
                url=str(item["url"]),
                snippet=str(item.get("content") or ""),
            )
            for item in results
        ]


class TextSearcher(Protocol):
    """The part of ``ddgs.DDGS`` used here (fakes implement it in tests)."""

    def text(self, query: str, **kwargs: Any) -> list[dict[str, Any]]:
        """Return result dicts with ``title``, ``href``, ``body``."""
        ...


def _default_searcher(timeout_s: float) -> TextSearcher:
    from ddgs import DDGS

    return DDGS(timeout=max(1, round(timeout_s)))


class DuckDuckGoSearch:
    """``WebSearchPort`` over DuckDuckGo via the ``ddgs`` package (no key needed).

    Args:
        region: DuckDuckGo region, e.g. ``kr-kr``.
        safesearch: ``on``, ``moderate`` or ``off``.
        backend: The ``ddgs`` backend(s); ``duckduckgo`` keeps it to DuckDuckGo.
        timeout_s: Overall time allowed for one search.
        searcher_factory: Makes the searcher (default: ``ddgs.DDGS``); tests pass a fake.
        max_threads: Searches running at once. ``ddgs`` blocks, so each search runs in a thread
            of this adapter's own pool, and a search given up (timed out, its sub-agent
            cancelled) keeps its thread until ``ddgs`` returns: the pool keeps those stragglers
            from filling the event loop's default executor, which everything else shares.
    """

    name = "duckduckgo"

    def __init__(
        self,
        *,
        region: str = "kr-kr",
        safesearch: str = "moderate",
        backend: str = "duckduckgo",
        timeout_s: float = 5.0,
        searcher_factory: Callable[[], TextSearcher] | None = None,
        max_threads: int = 4,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        self._pool = ThreadPoolExecutor(max_threads, thread_name_prefix="eco2-ddgs")
        self._region = region
        self._safesearch = safesearch
        self._backend = backend
        self._timeout_s = timeout_s
        self._factory = searcher_factory or (lambda: _default_searcher(timeout_s))

    async def search(self, query: str, max_results: int = 5) -> list[SearchResult]:
        """Return up to ``max_results`` (clamped to 1–20) hits for ``query``.

        Raises:
            ProviderRateLimitedError: DuckDuckGo throttled us.
            ProviderUnavailableError: It failed or did not answer within ``timeout_s``.
            MalformedResponseError: A result lacks its URL.
        """
        if not query.strip():
            return []
        limit = _clamp(max_results)
        try:
            loop = asyncio.get_running_loop()
            raw = await asyncio.wait_for(
                loop.run_in_executor(self._pool, self._text, query, limit), self._timeout_s
            )
        except TimeoutError:
            message = f"no answer within {self._timeout_s:g}s"
            raise ProviderUnavailableError(self.name, message) from None
        try:
            return [
                SearchResult(
                    title=str(item.get("title") or item["href"]),
                    url=str(item["href"]),
                    snippet=str(item.get("body") or ""),
                )
                for item in raw[:limit]
            ]
        except (KeyError, TypeError, AttributeError) as exc:
            raise MalformedResponseError(
                self.name, f"unexpected result shape ({type(exc).__name__})"
            ) from None

    async def close(self) -> None:
        """Release the threads; searches still running finish on their own."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _text(self, query: str, limit: int) -> list[dict[str, Any]]:
        from ddgs.exceptions import DDGSException, RatelimitException, TimeoutException

        try:
            return self._factory().text(
                query,
                region=self._region,
                safesearch=self._safesearch,
                max_results=limit,
                backend=self._backend,
            )
        except RatelimitException:
            raise ProviderRateLimitedError(self.name, "rate limited") from None
        except TimeoutException:
            raise ProviderUnavailableError(self.name, "timed out") from None
        except DDGSException as exc:
            if _NO_RESULTS in str(exc):
                return []  # ddgs reports an empty result set as an error
            raise ProviderUnavailableError(self.name, f"search failed: {exc}") from None
