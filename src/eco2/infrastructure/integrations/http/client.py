"""The shared async httpx client factory and :class:`HttpProvider`, one per external provider.

A provider call is: breaker admission → up to ``1 + retries`` GET attempts (retried on 429, 5xx,
connect/read errors and timeouts, with exponential backoff and jitter, or the server's
``Retry-After`` when it gives one within the cap) → the caller's ``parse`` turns the response into
domain values → the breaker learns the outcome. Every failure is a typed :class:`ProviderError`
whose message holds no key; transport exceptions are not chained because their text may embed a
keyed URL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import httpx
from opentelemetry.trace import Span, TracerProvider
from tenacity import RetryCallState

from eco2.infrastructure.integrations.http.breaker import CircuitBreaker
from eco2.infrastructure.integrations.http.errors import (
    MalformedResponseError,
    ProviderAuthError,
    ProviderError,
    ProviderErrorCode,
    ProviderRateLimitedError,
    ProviderUnavailableError,
)
from eco2.infrastructure.integrations.http.retry import (
    RetryPolicy,
    build_retrying,
    parse_retry_after,
)
from eco2.infrastructure.integrations.http.scrub import Scrubber, install_log_filter

log = logging.getLogger(__name__)
T = TypeVar("T")
Params = Mapping[str, str | int | float]


def create_async_client(
    *,
    base_url: str,
    connect_timeout_s: float = 3.0,
    read_timeout_s: float = 5.0,
    max_connections: int = 50,
    headers: Mapping[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    tracer_provider: TracerProvider | None = None,
    scrubber: Scrubber | None = None,
) -> httpx.AsyncClient:
    """Build an ``httpx.AsyncClient`` with the project's timeouts and pool limits.

    Args:
        base_url: Provider base URL (validated by the settings).
        connect_timeout_s: Connect (and pool) timeout.
        read_timeout_s: Read (and write) timeout.
        max_connections: Pool size.
        headers: Default headers (e.g. ``Authorization``).
        transport: A transport to use instead of the network one (tests: ``MockTransport``).
        tracer_provider: When given, every request is a CLIENT child span (OpenTelemetry httpx
            instrumentation), its URL attributes scrubbed of keys.
        scrubber: Secrets to remove from span URLs and from httpx's request log lines.

    Returns:
        A client the caller owns (close it with ``aclose``).
    """
    scrubber = scrubber or Scrubber()
    install_log_filter(scrubber)
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max(1, max_connections // 2)
    )
    inner = transport or httpx.AsyncHTTPTransport(limits=limits, retries=0)
    if tracer_provider is not None:
        from opentelemetry.instrumentation.httpx import AsyncOpenTelemetryTransport

        async def scrub_span(span: Span, request: Any) -> None:
            # Without the query: its values carry keys, and words of the user's message and
            # their coordinates (a place search), which spans never record (DESIGN.md §5).
            url = scrubber(str(request.url.copy_with(query=None)))
            present = getattr(span, "attributes", None) or {}
            for key in [k for k in ("url.full", "http.url") if k in present] or ["url.full"]:
                span.set_attribute(key, url)
            if "url.query" in present:
                span.set_attribute("url.query", "")

        inner = AsyncOpenTelemetryTransport(
            inner, tracer_provider=tracer_provider, request_hook=scrub_span
        )
    return httpx.AsyncClient(
        base_url=base_url,
        headers=dict(headers or {}),
        timeout=httpx.Timeout(
            connect=connect_timeout_s,
            read=read_timeout_s,
            write=read_timeout_s,
            pool=connect_timeout_s,
        ),
        limits=limits,
        transport=inner,
        follow_redirects=False,
    )


class HttpProvider:
    """One external provider: its client, breaker, retry policy and secret scrubber.

    Args:
        name: Short provider name used in errors, logs and breaker reports.
        client: The provider's client (from :func:`create_async_client`); closed by ``aclose``.
        retry: Retry policy.
        breaker: The provider's circuit breaker (a default one when omitted).
        scrubber: Knows the provider's secrets; applied to every message we raise or log.
        sleep: Awaitable sleep used between attempts (tests inject a recorder).
    """

    def __init__(
        self,
        name: str,
        client: httpx.AsyncClient,
        *,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        scrubber: Scrubber | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.name = name
        self.client = client
        self.retry = retry or RetryPolicy()
        self.breaker = breaker or CircuitBreaker(name)
        self.scrub = scrubber or Scrubber()
        self._sleep = sleep

    async def aclose(self) -> None:
        """Close the underlying client."""
        await self.client.aclose()

    async def get(
        self,
        path: str,
        parse: Callable[[httpx.Response], T],
        *,
        params: Params | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> T:
        """GET ``path`` with retries and the breaker, and return ``parse(response)``.

        ``parse`` runs inside each attempt, so an error it raises as
        ``ProviderUnavailableError`` (e.g. a data.go.kr "service timeout" code under HTTP 200) is
        retried too. Other exceptions it raises (``KeyError``, ``TypeError``, ``ValueError``) are
        reported as ``MalformedResponseError``.

        Raises:
            ProviderError: A typed subclass saying what failed.
        """

        async def attempt() -> T:
            return self.parsed(await self._send(path, params, headers), parse)

        return await self.guarded(attempt)

    async def guarded(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """Run ``attempt`` (one request and its parsing) the way every call of this provider runs.

        Breaker admission → attempts retried on ``ProviderUnavailableError`` and
        ``ProviderRateLimitedError`` (``Retry-After`` honoured) → the breaker learns the outcome,
        all within ``retry.deadline_s``: a hung provider is a failure its breaker counts.

        Raises:
            ProviderError: What ``attempt`` raised last, or ``ProviderUnavailableError`` when the
                deadline passed or the breaker is open.
        """
        self.breaker.before_call()
        try:
            async with asyncio.timeout(self.retry.deadline_s):
                result = await self._with_retries(attempt)
        except TimeoutError:
            self.breaker.record_failure()
            budget = f"{self.retry.deadline_s:g}"
            log.warning("provider_call_failed", extra={"provider": self.name, "error": "deadline"})
            raise ProviderUnavailableError(self.name, f"no answer within {budget} s") from None
        except (ProviderUnavailableError, ProviderRateLimitedError) as exc:
            self.breaker.record_failure()
            log.warning(
                "provider_call_failed",
                extra={"provider": self.name, "error": self.scrub(str(exc))},
            )
            raise
        except asyncio.CancelledError:  # a cancelled half-open trial reopens the breaker
            self.breaker.record_cancelled()
            raise
        except BaseException:
            self.breaker.record_neutral()
            raise
        self.breaker.record_success()
        return result

    async def _with_retries(self, attempt: Callable[[], Awaitable[T]]) -> T:
        retrying = build_retrying(self.retry, sleep=self._sleep, before_sleep=self._log_retry)
        async for attempt_state in retrying:
            with attempt_state:
                return await attempt()
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.info(
            "provider_retry",
            extra={
                "provider": self.name,
                "attempt": state.attempt_number,
                "error": self.scrub(str(exc)),
            },
        )

    async def _send(
        self, path: str, params: Params | None, headers: Mapping[str, str] | None
    ) -> httpx.Response:
        try:
            response = await self.client.get(path, params=params, headers=headers)
        except httpx.TimeoutException as exc:
            raise ProviderUnavailableError(self.name, f"timed out ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise ProviderUnavailableError(
                self.name, f"transport error ({type(exc).__name__})"
            ) from None
        self._check_status(response)
        return response

    def _check_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if status < 300:
            return
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status in (401, 403):
            raise ProviderAuthError(self.name, f"HTTP {status}: key rejected")
        if status == 429:
            raise ProviderRateLimitedError(self.name, "HTTP 429: rate limited", retry_after)
        if status >= 500:
            raise ProviderUnavailableError(self.name, f"HTTP {status}", retry_after)
        raise ProviderErrorCode(self.name, f"HTTP {status}", self.scrub(response.reason_phrase))

    def parsed(self, response: httpx.Response, parse: Callable[[httpx.Response], T]) -> T:
        """``parse(response)``, its errors scrubbed, a shape it did not expect as
        ``MalformedResponseError``."""
        try:
            return parse(response)
        except ProviderError as exc:
            exc.args = (self.scrub(str(exc)),)  # in case the provider echoed our key back
            raise
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise MalformedResponseError(
                self.name, f"unexpected response shape ({type(exc).__name__})"
            ) from None


def json_body(response: httpx.Response, provider: str) -> Any:
    """Return the decoded JSON body, or raise :class:`MalformedResponseError`."""
    try:
        return response.json()
    except ValueError:
        raise MalformedResponseError(provider, "response is not JSON") from None
