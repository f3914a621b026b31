"""JSON ``POST`` calls through a shared :class:`HttpProvider` (Tavily search, OpenAI images).

``HttpProvider.get`` covers the GET providers; the two JSON APIs here are called with ``POST``.
This module gives them the same treatment with the provider's own client, retry policy, breaker
and scrubber: breaker admission → attempts retried on 429, 5xx, connect/read errors and timeouts
(``Retry-After`` honoured) → ``parse`` → the breaker learns the outcome, all within the
provider's ``deadline_s`` (a hung provider counts as a failure for its breaker). Both APIs
document retrying 429 and 5xx as safe (the request produced nothing). A timeout or a dropped
connection after the request was sent is retried only for an ``idempotent`` call: an image
generation may have been made and billed, so it is not sent again (``OutcomeUnknownError``).

Status mapping (a provider may refine it with ``classify``, e.g. a content-policy 400):

- 401/403 → ``ProviderAuthError`` (the provider's text is dropped: it may quote the key);
- 429 → ``ProviderRateLimitedError``; 5xx → ``ProviderUnavailableError``;
- any other non-2xx → ``ProviderErrorCode`` with the provider's scrubbed error message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import httpx
from tenacity import RetryCallState

from eco2.infrastructure.integrations.http.client import HttpProvider
from eco2.infrastructure.integrations.http.errors import (
    MalformedResponseError,
    OutcomeUnknownError,
    ProviderAuthError,
    ProviderError,
    ProviderErrorCode,
    ProviderRateLimitedError,
    ProviderUnavailableError,
)
from eco2.infrastructure.integrations.http.retry import build_retrying, parse_retry_after

log = logging.getLogger(__name__)
T = TypeVar("T")
Classifier = Callable[[httpx.Response], ProviderError | None]
"""Returns a provider-specific error for a non-2xx response, or ``None`` for the default."""


def error_message(response: httpx.Response) -> str:
    """The error text of a JSON error body (OpenAI ``error.message``, Tavily ``detail.error``).

    Falls back to the HTTP reason phrase when the body has neither.
    """
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase
    if isinstance(body, dict):
        for outer, inner in (("error", "message"), ("detail", "error")):
            value = body.get(outer)
            if isinstance(value, dict) and isinstance(value.get(inner), str):
                return str(value[inner])
            if isinstance(value, str):
                return value
    return response.reason_phrase


def status_error(provider: HttpProvider, response: httpx.Response) -> ProviderError | None:
    """The default typed error for ``response`` (``None`` when it is a success)."""
    status = response.status_code
    if status < 300:
        return None
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if status in (401, 403):
        return ProviderAuthError(provider.name, f"HTTP {status}: key rejected")
    if status == 429:
        return ProviderRateLimitedError(provider.name, "HTTP 429: rate limited", retry_after)
    if status >= 500:
        return ProviderUnavailableError(provider.name, f"HTTP {status}", retry_after)
    return ProviderErrorCode(
        provider.name, f"HTTP {status}", provider.scrub(error_message(response))
    )


async def post_json(
    provider: HttpProvider,
    path: str,
    body: Mapping[str, Any],
    parse: Callable[[httpx.Response], T],
    *,
    headers: Mapping[str, str] | None = None,
    classify: Classifier | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    idempotent: bool = True,
) -> T:
    """POST ``body`` as JSON to ``path`` with retries and the breaker; return ``parse(response)``.

    Args:
        provider: The provider (client, retry policy, breaker, scrubber).
        path: Path under the client's base URL.
        body: The JSON body.
        parse: Turns a 2xx response into domain values; ``KeyError``, ``TypeError``,
            ``ValueError``, ``IndexError`` and ``AttributeError`` become
            ``MalformedResponseError``.
        headers: Extra request headers (e.g. ``Authorization``).
        classify: Provider-specific mapping of error responses, tried before the default.
        sleep: Sleep between attempts (tests inject a recorder).
        idempotent: Whether sending the request twice is harmless; when not, a failure after it
            was sent (read timeout, dropped connection) is not retried.

    Raises:
        ProviderError: A typed subclass saying what failed; its message holds no secret.
    """
    provider.breaker.before_call()
    try:
        async with asyncio.timeout(provider.retry.deadline_s):
            result = await _with_retries(
                provider, path, body, parse, headers, classify, sleep, idempotent
            )
    except TimeoutError:
        provider.breaker.record_failure()
        log.warning("provider_call_failed", extra={"provider": provider.name, "error": "deadline"})
        budget = f"{provider.retry.deadline_s:g}"
        raise ProviderUnavailableError(provider.name, f"no answer within {budget} s") from None
    except (ProviderUnavailableError, ProviderRateLimitedError) as exc:
        provider.breaker.record_failure()
        log.warning("provider_call_failed", extra={"provider": provider.name, "error": str(exc)})
        raise
    except asyncio.CancelledError:  # as HttpProvider.get: a cancelled half-open trial reopens
        provider.breaker.record_cancelled()
        raise
    except BaseException:
        provider.breaker.record_neutral()
        raise
    provider.breaker.record_success()
    return result


async def _with_retries(
    provider: HttpProvider,
    path: str,
    body: Mapping[str, Any],
    parse: Callable[[httpx.Response], T],
    headers: Mapping[str, str] | None,
    classify: Classifier | None,
    sleep: Callable[[float], Awaitable[None]],
    idempotent: bool,
) -> T:
    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.info(
            "provider_retry",
            extra={"provider": provider.name, "attempt": state.attempt_number, "error": str(exc)},
        )

    retrying = build_retrying(provider.retry, sleep=sleep, before_sleep=before_sleep)
    async for attempt in retrying:
        with attempt:
            response = await _send(provider, path, body, headers, idempotent)
            error = (classify(response) if classify else None) or status_error(provider, response)
            if error is not None:
                error.args = (provider.scrub(str(error)),)
                raise error
            return _parse(provider, response, parse)
    raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover


async def _send(
    provider: HttpProvider,
    path: str,
    body: Mapping[str, Any],
    headers: Mapping[str, str] | None,
    idempotent: bool,
) -> httpx.Response:
    # Transport errors are not chained: their text may carry request details.
    try:
        return await provider.client.post(path, json=dict(body), headers=headers)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        # Never sent: safe to try again whatever the request does.
        raise ProviderUnavailableError(
            provider.name, f"could not connect ({type(exc).__name__})"
        ) from None
    except httpx.HTTPError as exc:
        if not idempotent:
            raise OutcomeUnknownError(
                provider.name, f"no answer after sending ({type(exc).__name__}); not sent again"
            ) from None
        if isinstance(exc, httpx.TimeoutException):
            raise ProviderUnavailableError(
                provider.name, f"timed out ({type(exc).__name__})"
            ) from None
        raise ProviderUnavailableError(
            provider.name, f"transport error ({type(exc).__name__})"
        ) from None


def _parse(
    provider: HttpProvider, response: httpx.Response, parse: Callable[[httpx.Response], T]
) -> T:
    try:
        return parse(response)
    except ProviderError as exc:
        exc.args = (provider.scrub(str(exc)),)
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise MalformedResponseError(
            provider.name, f"unexpected response shape ({type(exc).__name__})"
        ) from None
