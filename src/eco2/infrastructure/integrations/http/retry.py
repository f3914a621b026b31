"""Retry policy of provider calls: tenacity, exponential backoff with jitter, ``Retry-After``.

Retried: :class:`ProviderUnavailableError` (5xx, connect/read errors, timeouts, transient
provider codes) and :class:`ProviderRateLimitedError` (429). A ``Retry-After`` within
``retry_after_max_s`` replaces the backoff; a longer one ends the retries at once, since waiting
that long would outlast the sub-agent's own timeout anyway.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_any,
)
from tenacity.stop import stop_base

from eco2.infrastructure.integrations.http.errors import (
    CircuitOpenError,
    OutcomeUnknownError,
    ProviderRateLimitedError,
    ProviderUnavailableError,
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to retry one call.

    Attributes:
        retries: Extra attempts after the first (0 disables retrying).
        backoff_base_s: First backoff; doubles each attempt; plus up to this much jitter.
        backoff_max_s: Cap of the exponential part of the backoff.
        retry_after_max_s: Longest ``Retry-After`` we honour; a longer one ends the retries.
        deadline_s: Budget of the whole call, attempts and waits included (``None``: no budget).
    """

    retries: int = 2
    backoff_base_s: float = 0.2
    backoff_max_s: float = 2.0
    retry_after_max_s: float = 5.0
    deadline_s: float | None = None


def parse_retry_after(value: str | None) -> float | None:
    """Return the seconds a ``Retry-After`` header asks for (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def is_retryable(exc: BaseException) -> bool:
    """Whether a failed attempt is worth repeating (not a request that may already be served)."""
    if isinstance(exc, CircuitOpenError | OutcomeUnknownError):
        return False
    return isinstance(exc, ProviderUnavailableError | ProviderRateLimitedError)


def _retry_after(state: RetryCallState) -> float | None:
    exc = state.outcome.exception() if state.outcome else None
    value = getattr(exc, "retry_after_s", None)
    return float(value) if value is not None else None


class _RetryAfterTooLong(stop_base):
    def __init__(self, cap_s: float) -> None:
        self.cap_s = cap_s

    def __call__(self, retry_state: RetryCallState) -> bool:
        seconds = _retry_after(retry_state)
        return seconds is not None and seconds > self.cap_s


class _Wait:
    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy

    def __call__(self, retry_state: RetryCallState) -> float:
        seconds = _retry_after(retry_state)
        if seconds is not None:
            return min(seconds, self._policy.retry_after_max_s)
        policy = self._policy
        exponential = policy.backoff_base_s * 2.0 ** (int(retry_state.attempt_number) - 1)
        jitter = random.uniform(0, policy.backoff_base_s)  # not for security: spreads retries
        return min(policy.backoff_max_s, exponential) + jitter


def build_retrying(
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], Awaitable[None]],
    before_sleep: Callable[[RetryCallState], None],
) -> AsyncRetrying:
    """Return a tenacity ``AsyncRetrying`` for one call under ``policy`` (re-raises at the end)."""
    return AsyncRetrying(
        stop=stop_any(
            stop_after_attempt(policy.retries + 1), _RetryAfterTooLong(policy.retry_after_max_s)
        ),
        wait=_Wait(policy),
        retry=retry_if_exception(is_retryable),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
