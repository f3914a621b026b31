"""Typed errors of the character service client, in the providers' error hierarchy.

ProviderError (a ``SubagentError``)
├── CharacterServiceError              any other non-OK status (INTERNAL, UNIMPLEMENTED, …)
└── ProviderUnavailableError
    ├── CharacterServiceUnavailableError   UNAVAILABLE: the server is down or unreachable
    └── CharacterServiceTimeoutError       DEADLINE_EXCEEDED: no answer within the deadline
"""

from __future__ import annotations

import grpc

from eco2.infrastructure.integrations.http.errors import ProviderError, ProviderUnavailableError

PROVIDER = "character"


class CharacterServiceError(ProviderError):
    """The character service answered with an error status."""


class CharacterServiceUnavailableError(ProviderUnavailableError):
    """The character service could not be reached (gRPC ``UNAVAILABLE``)."""


class CharacterServiceTimeoutError(ProviderUnavailableError):
    """The character service did not answer within the deadline (``DEADLINE_EXCEEDED``)."""


def error_from_status(method: str, code: grpc.StatusCode) -> ProviderError:
    """The typed error for a failed call (the status details are the caller's to log: they
    can name internal addresses, and the message reaches the job's events).

    Args:
        method: The RPC's short name, e.g. ``FindCharacters``.
        code: The call's status code.

    Returns:
        The error to raise.
    """
    message = f"{method} failed: {code.name}"
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return CharacterServiceTimeoutError(PROVIDER, message)
    if code is grpc.StatusCode.UNAVAILABLE:
        return CharacterServiceUnavailableError(PROVIDER, message)
    return CharacterServiceError(PROVIDER, message)
