"""LangSmith tracing, configured from the environment (DESIGN.md §5).

``LANGCHAIN_TRACING_V2`` / ``LANGSMITH_TRACING``, ``LANGCHAIN_API_KEY`` / ``LANGSMITH_API_KEY``,
``LANGCHAIN_PROJECT`` / ``LANGSMITH_PROJECT`` (default ``eco2-chat-worker``) and
``LANGSMITH_ENDPOINT`` / ``LANGCHAIN_ENDPOINT``. Tracing is on only when it is switched on *and*
a key is set; switched on without a key, a warning is logged and nothing is traced.

``LANGSMITH_TRACING_SAMPLING_RATE`` (0..1, default 1) samples whole jobs, decided from the job id:
an unsampled job runs with no tracer at all, so it costs nothing. (The SDK's own sampling drops
runs only when posting them, after LangChain has built every one; it is switched off here so the
rate is not applied twice.)
"""

from __future__ import annotations

import logging
import os
import threading
import zlib
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from eco2.domain.chat import ChatJob
from eco2.infrastructure.telemetry.run_config import intent_tags, job_run_config, merge_tags
from eco2.infrastructure.telemetry.run_tree import JobRunTracer

log = logging.getLogger(__name__)

DEFAULT_PROJECT = "eco2-chat-worker"
_TRUE = {"1", "true", "yes", "on"}


def _first(env: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = env.get(name)
        if value:
            return value
    return None


def _rate(value: str | None) -> float:
    try:
        rate = float(value) if value else 1.0
    except ValueError:
        rate = 1.0
    if not 0.0 <= rate <= 1.0:
        log.warning("langsmith_sampling_rate_invalid", extra={"value": value})
        return 1.0
    return rate


def sampled(job_id: str, rate: float) -> bool:
    """Whether a job is traced: the same answer for the same job id (retries included)."""
    return rate >= 1.0 or zlib.crc32(job_id.encode()) < rate * 2**32


@dataclass(frozen=True, slots=True)
class LangSmithConfig:
    """LangSmith settings read from the environment (the key is never logged)."""

    tracing: bool
    api_key: str | None
    project: str
    endpoint: str | None
    sampling_rate: float = 1.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LangSmithConfig:
        """Read both the ``LANGCHAIN_*`` and the ``LANGSMITH_*`` spellings."""
        flag = _first(env, "LANGCHAIN_TRACING_V2", "LANGSMITH_TRACING_V2", "LANGSMITH_TRACING")
        return cls(
            tracing=(flag or "").strip().lower() in _TRUE,
            api_key=_first(env, "LANGCHAIN_API_KEY", "LANGSMITH_API_KEY"),
            project=_first(env, "LANGCHAIN_PROJECT", "LANGSMITH_PROJECT") or DEFAULT_PROJECT,
            endpoint=_first(env, "LANGSMITH_ENDPOINT", "LANGCHAIN_ENDPOINT"),
            sampling_rate=_rate(_first(env, "LANGSMITH_TRACING_SAMPLING_RATE")),
        )

    @property
    def enabled(self) -> bool:
        """On only when switched on and a key is set."""
        return self.tracing and bool(self.api_key)


def _session(api_url: str | None) -> Any:
    """The SDK's HTTP session, with the proxy and CA-bundle environment read once.

    ``requests`` reads proxies from the environment on every request (two passes over
    ``os.environ``): about a quarter of the SDK thread's CPU per batch post (2.1 → 1.65 ms,
    measured against the local receiver). Read here once, the same settings apply.
    """
    import requests
    from requests.utils import get_environ_proxies

    session = requests.Session()
    session.proxies.update(get_environ_proxies(api_url or "https://api.smith.langchain.com"))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    session.verify = bundle or True
    session.trust_env = False
    return session


class NoOpTelemetry:
    """``TelemetryConfigPort`` that traces nothing, even if LangChain's env switch is on."""

    def __init__(self, environment: str = "dev", default_tags: Sequence[str] = ()) -> None:
        self._environment = environment
        self._default_tags = tuple(default_tags)

    @property
    def enabled(self) -> bool:
        """Never."""
        return False

    def run_config(self, job: ChatJob) -> dict[str, Any]:
        """Run name, tags and metadata still identify the run for local callbacks."""
        return job_run_config(job, self._environment, self._default_tags)

    def annotate(
        self, config: dict[str, Any], intents: Sequence[str], subagents: Sequence[str]
    ) -> None:
        """Nothing to annotate."""

    def tracing(self, config: dict[str, Any]) -> AbstractContextManager[None]:
        """Switch LangChain tracing off for the job."""
        from langsmith.run_helpers import tracing_context

        return tracing_context(enabled=False)

    def flush(self) -> None:
        """Nothing buffered."""


class LangSmithTelemetry:
    """``TelemetryConfigPort`` sending each job's run tree to LangSmith.

    Args:
        config: Endpoint, key and project.
        environment: Goes into the ``env:*`` tag.
        default_tags: Tags every run carries (merged with per-request tags).
        auto_batch: Batch posts in the SDK's background thread (on in production).
    """

    def __init__(
        self,
        config: LangSmithConfig,
        environment: str,
        default_tags: Sequence[str] = (),
        auto_batch: bool = True,
    ) -> None:
        from langsmith import Client

        self._environment = environment
        self._default_tags = tuple(default_tags)
        self._rate = config.sampling_rate
        self._client = Client(
            api_url=config.endpoint,
            api_key=config.api_key,
            auto_batch_tracing=auto_batch,
            session=_session(config.endpoint),
            tracing_sampling_rate=1.0,  # jobs are sampled here, whole (see the module doc)
            # Runs go to LangSmith only. ``LANGSMITH_OTEL_ENABLED=true`` switches this project's
            # own spans on (no message text); left to the SDK it would also export every run as
            # a span, inputs and outputs as ``gen_ai.prompt``/``completion``, to that provider.
            tracing_mode="langsmith",
        )
        self._tracer = JobRunTracer(self._client, config.project)
        self.flush_timeout_s = 10.0
        """Longest wait for queued runs at shutdown."""
        log.info(
            "langsmith_tracing_enabled",
            extra={"project": config.project, "sampling_rate": config.sampling_rate},
        )

    @property
    def enabled(self) -> bool:
        """Always, once built."""
        return True

    def run_config(self, job: ChatJob) -> dict[str, Any]:
        """The job's run config with the LangSmith tracer as its callback (if it is sampled)."""
        config = job_run_config(job, self._environment, self._default_tags)
        if sampled(job.job_id, self._rate):
            config["callbacks"] = [self._tracer]
        return config

    def annotate(
        self, config: dict[str, Any], intents: Sequence[str], subagents: Sequence[str]
    ) -> None:
        """Add intent/sub-agent tags and the intent to the root run before it is sent."""
        root = self._tracer.root(config["run_id"]) if "run_id" in config else None
        if root is None:
            return
        root["tags"] = merge_tags(root["tags"], intent_tags(intents, subagents))
        metadata = root["extra"]["metadata"]
        metadata["intent"] = intents[0] if intents else "general"
        metadata["intents"] = list(intents)

    def tracing(self, config: dict[str, Any]) -> AbstractContextManager[None]:
        """LangChain's own tracing off: a sampled job has its explicit tracer, and with
        ``LANGCHAIN_TRACING_V2`` set LangChain would add a ``LangChainTracer`` of its own."""
        from langsmith.run_helpers import tracing_context

        return tracing_context(enabled=False)

    def pending_runs(self) -> int:
        """Runs of jobs still running (the tracer keeps each job's runs until it ends)."""
        return self._tracer.pending()

    def flush(self) -> None:
        """Wait for queued runs to be sent, at most ``flush_timeout_s``.

        It runs at shutdown, inside the pod's grace period: an unreachable endpoint (the SDK
        retries) must not hold the process until it is killed. Runs still queued are lost.
        """
        sending = threading.Thread(target=self._client.flush, name="eco2-langsmith-flush")
        sending.daemon = True
        sending.start()
        sending.join(self.flush_timeout_s)
        if sending.is_alive():
            log.warning("langsmith_flush_timeout", extra={"timeout_s": self.flush_timeout_s})


def build_telemetry(
    env: Mapping[str, str], environment: str, default_tags: Sequence[str] = ()
) -> LangSmithTelemetry | NoOpTelemetry:
    """LangSmith when switched on with a key; NoOp otherwise (with a warning if half-set)."""
    config = LangSmithConfig.from_env(env)
    if config.enabled:
        return LangSmithTelemetry(config, environment, default_tags)
    if config.tracing:
        log.warning("langsmith_tracing_disabled", extra={"reason": "no API key set"})
    return NoOpTelemetry(environment, default_tags)
