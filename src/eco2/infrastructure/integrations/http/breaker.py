"""A per-provider circuit breaker: closed → open after N failed calls → half-open → closed.

Only failures that say the provider is unhealthy count (unavailable, rate limited); a rejected
key or a malformed body is the caller's problem and does not open the circuit. While half-open,
one trial call goes through and the others are refused until it settles.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from enum import StrEnum

from eco2.infrastructure.integrations.http.errors import CircuitOpenError

log = logging.getLogger(__name__)

BreakerObserver = Callable[[str, str], None]
"""Called with ``(provider, state)`` on every state change (the lead maps it to a metric)."""


class BreakerState(StrEnum):
    """Circuit states, as reported to the observer."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Counts consecutive failed calls of one provider and short-circuits while it is down.

    Args:
        provider: Provider name, passed to the observer and put in errors.
        failure_threshold: Consecutive failed calls that open the circuit.
        reset_timeout_s: Seconds the circuit stays open before a trial call is allowed.
        observer: Told ``(provider, state)`` on each state change; its errors are logged only.
        clock: Monotonic clock (tests inject one).
    """

    def __init__(
        self,
        provider: str,
        *,
        failure_threshold: int = 5,
        reset_timeout_s: float = 30.0,
        observer: BreakerObserver | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1 or reset_timeout_s <= 0:
            raise ValueError("failure_threshold must be ≥ 1 and reset_timeout_s > 0")
        self.provider = provider
        self._threshold = failure_threshold
        self._reset_s = reset_timeout_s
        self._observer = observer
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False

    @property
    def state(self) -> BreakerState:
        """The current state (an open circuit past its timeout still reads ``open``)."""
        return self._state

    def before_call(self) -> None:
        """Admit a call or refuse it.

        Raises:
            CircuitOpenError: The circuit is open, or half-open with a trial already running.
        """
        if self._state is BreakerState.OPEN:
            if self._clock() - self._opened_at < self._reset_s:
                raise CircuitOpenError(self.provider, "circuit open; not calling the provider")
            self._set(BreakerState.HALF_OPEN)
        if self._state is BreakerState.HALF_OPEN:
            if self._trial_in_flight:
                raise CircuitOpenError(self.provider, "circuit half-open; trial call running")
            self._trial_in_flight = True

    def record_success(self) -> None:
        """The provider answered: close the circuit and forget past failures."""
        self._failures = 0
        self._trial_in_flight = False
        if self._state is not BreakerState.CLOSED:
            self._set(BreakerState.CLOSED)

    def record_failure(self) -> None:
        """The provider failed a call (after retries): maybe open the circuit."""
        self._trial_in_flight = False
        self._failures += 1
        if self._state is BreakerState.HALF_OPEN or self._failures >= self._threshold:
            self._opened_at = self._clock()
            if self._state is not BreakerState.OPEN:
                self._set(BreakerState.OPEN)

    def record_neutral(self) -> None:
        """The call ended in a way that says nothing about provider health (e.g. bad key)."""
        if self._trial_in_flight:
            self._trial_in_flight = False
            self._set(BreakerState.CLOSED)
            self._failures = 0

    def record_cancelled(self) -> None:
        """The caller gave up (e.g. the sub-agent timed out): a cancelled trial reopens."""
        if self._trial_in_flight:
            self._trial_in_flight = False
            self._opened_at = self._clock()
            self._set(BreakerState.OPEN)

    def _set(self, state: BreakerState) -> None:
        self._state = state
        log.info("provider_breaker_state", extra={"provider": self.provider, "state": state.value})
        if self._observer is not None:
            try:
                self._observer(self.provider, state.value)
            except Exception:  # a metrics hiccup must not break the call path
                log.exception("provider_breaker_observer_failed", extra={"provider": self.provider})
