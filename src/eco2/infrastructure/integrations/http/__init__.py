"""Shared HTTP machinery of the provider clients: client factory, retries, breaker, errors."""

from eco2.infrastructure.integrations.http.breaker import BreakerState, CircuitBreaker
from eco2.infrastructure.integrations.http.client import (
    HttpProvider,
    create_async_client,
    json_body,
)
from eco2.infrastructure.integrations.http.errors import (
    CircuitOpenError,
    MalformedResponseError,
    ProviderAuthError,
    ProviderError,
    ProviderErrorCode,
    ProviderRateLimitedError,
    ProviderUnavailableError,
)
from eco2.infrastructure.integrations.http.retry import RetryPolicy
from eco2.infrastructure.integrations.http.scrub import Scrubber

__all__ = [
    "BreakerState",
    "CircuitBreaker",
    "CircuitOpenError",
    "HttpProvider",
    "MalformedResponseError",
    "ProviderAuthError",
    "ProviderError",
    "ProviderErrorCode",
    "ProviderRateLimitedError",
    "ProviderUnavailableError",
    "RetryPolicy",
    "Scrubber",
    "create_async_client",
    "json_body",
]
