"""JSON ``POST`` calls through a shared :class:`HttpProvider` (Tavily search, OpenAI images).

``HttpProvider.get`` covers the GET providers; the two JSON APIs here are called with ``POST``,
through the same ``HttpProvider.guarded`` call: breaker admission → attempts retried on 429,
5xx, connect/read errors and timeouts (``Retry-After`` honoured) → ``parse`` → the breaker
learns the outcome, all within the provider's ``deadline_s`` (a hung provider counts as a
failure for its breaker). What differs is the request and its status mapping below. Both APIs
document retrying 429 and 5xx as safe (the request produced nothing). A timeout or a dropped
connection after the request was sent is retried only for an ``idempotent`` call: an image
generation may have been made and billed, so it is not sent again (``OutcomeUnknownError``).

Status mapping (a provider may refine it with ``classify``, e.g. a content-policy 400):

- 401/403 → ``ProviderAuthError`` (the provider's text is dropped: it may quote the key);
- 429 → ``ProviderRateLimitedError``; 5xx → ``ProviderUnavailableError``;
- any other non-2xx → ``ProviderErrorCode`` with the provider's scrubbed error message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import httpx

from eco2.infrastructure.integrations.http.client import HttpProvider
from eco2.infrastructure.integrations.http.errors import (
    OutcomeUnknownError,
    ProviderAuthError,
    ProviderError,
    ProviderErrorCode,
    ProviderRateLimitedError,
    ProviderUnavailableError,
)
from eco2.infrastructure.integrations.http.retry import parse_retry_after

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
    idempotent: bool = True,
) -> T:
    """POST ``body`` as JSON to ``path`` with retries and the breaker; return ``parse(response)``.

    Args:
        provider: The provider (client, retry policy, breaker, scrubber, sleep between attempts).
        path: Path under the client's base URL.
        body: The JSON body.
        parse: Turns a 2xx response into domain values; ``KeyError``, ``TypeError``,
            ``ValueError``, ``IndexError`` and ``AttributeError`` become
            ``MalformedResponseError``.
        headers: Extra request headers (e.g. ``Authorization``).
        classify: Provider-specific mapping of error responses, tried before the default.
        idempotent: Whether sending the request twice is harmless; when not, a failure after it
            was sent (read timeout, dropped connection) is not retried.

    Raises:
        ProviderError: A typed subclass saying what failed; its message holds no secret.
    """

    async def attempt() -> T:
        response = await _send(provider, path, body, headers, idempotent)
        error = (classify(response) if classify else None) or status_error(provider, response)
        if error is not None:
            error.args = (provider.scrub(str(error)),)
            raise error
        return provider.parsed(response, parse)

    return await provider.guarded(attempt)


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
