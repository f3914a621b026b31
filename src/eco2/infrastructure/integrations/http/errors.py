"""Typed errors of the provider clients; every one is a ``SubagentError`` the nodes understand.

SubagentError
└── ProviderError                 carries ``provider``; message never holds a key or keyed URL
    ├── ProviderAuthError         401/403, or a provider code saying the key is wrong
    ├── ProviderRateLimitedError  429 or a quota code; ``retry_after_s`` when the server said so
    ├── ProviderUnavailableError  5xx, connect/read errors and timeouts
    │   ├── CircuitOpenError      the provider's breaker is open: not called at all
    │   └── OutcomeUnknownError   a non-idempotent request may have been served: never retried
    ├── MalformedResponseError    the body is not the documented shape
    └── ProviderErrorCode         a documented error code (data.go.kr ``resultCode`` ≠ "00", …)
"""

from __future__ import annotations

from eco2.domain.errors import SubagentError


class ProviderError(SubagentError):
    """A provider call failed.

    Args:
        provider: Short provider name (``kakao``, ``kma``, ``mois``, ``keco``).
        message: What went wrong, already free of secrets.
    """

    def __init__(self, provider: str, message: str) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider


class ProviderAuthError(ProviderError):
    """The provider rejected the key (HTTP 401/403 or an auth error code)."""


class ProviderRateLimitedError(ProviderError):
    """The provider is throttling us.

    Args:
        provider: Provider name.
        message: Description.
        retry_after_s: Seconds the server asked us to wait, if it said.
    """

    def __init__(self, provider: str, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(provider, message)
        self.retry_after_s = retry_after_s


class ProviderUnavailableError(ProviderError):
    """The provider is down, slow or unreachable (5xx, connect/read errors, timeouts).

    Args:
        provider: Provider name.
        message: Description.
        retry_after_s: Seconds the server asked us to wait (503 with ``Retry-After``), if any.
    """

    def __init__(self, provider: str, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(provider, message)
        self.retry_after_s = retry_after_s


class CircuitOpenError(ProviderUnavailableError):
    """The provider's circuit breaker is open; the call was not attempted."""


class OutcomeUnknownError(ProviderUnavailableError):
    """A request that must not run twice (a billed generation) was sent, and no answer came back.

    The provider may have served (and billed) it, so it is not retried.
    """


class MalformedResponseError(ProviderError):
    """The response body is not JSON or not in the documented shape."""


class ProviderErrorCode(ProviderError):
    """The provider answered with a documented error code.

    Args:
        provider: Provider name.
        code: The provider's code (e.g. data.go.kr ``resultCode``).
        message: The provider's message for it.
    """

    def __init__(self, provider: str, code: str, message: str) -> None:
        super().__init__(provider, f"error code {code}: {message}")
        self.code = code
