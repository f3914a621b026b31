"""Skip-or-fail for integration tests that need a real local service (Redis, RabbitMQ, ...).

Locally a missing service skips the test; on CI (``CI=true``) it fails, so a broken service
container can never turn the integration suite silently green.
"""

from __future__ import annotations

import os

import pytest


def require_service(name: str, reachable: bool, detail: str) -> None:
    """Skip the current test when a service is unreachable, or fail it on CI.

    Args:
        name: Human-readable service name, e.g. ``"Redis"``.
        reachable: Whether the caller managed to reach the service.
        detail: Where it was looked for and why it failed (URL, error); no secrets.
    """
    if reachable:
        return
    reason = f"{name} not reachable at {detail}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: integration services are required)", pytrace=False)
    pytest.skip(reason)
