"""All configuration, read from the environment once, in one pydantic-settings class.

Groups are nested settings classes; each field names its environment variable(s) explicitly so
the documented names (``OPENAI_API_KEY``, ``ECO2_LLM_PROVIDER``, …) are the only ones.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_COMMON = SettingsConfigDict(extra="ignore", env_file=None, populate_by_name=True)


def _checked_url(url: str, schemes: tuple[str, ...], example: str, *, host: bool = True) -> str:
    """``url`` if it is a URL of one of ``schemes`` naming a host (with ``host``; a path for
    ``unix``).

    The error never repeats the URL: it may hold a password.
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises ValueError on a port that is not a number
    except ValueError:
        raise ValueError(f"not a URL (expected e.g. {example})") from None
    if parts.scheme not in schemes:
        raise ValueError(f"the scheme must be one of {', '.join(schemes)} (e.g. {example})")
    if (parts.scheme == "unix" and not parts.path) or (host and not parts.hostname):
        raise ValueError(f"the URL names no host (expected e.g. {example})")
    return url


class LLMProvider(StrEnum):
    """Which models serve classification and answers."""

    OFFLINE = "offline"
    OPENAI = "openai"


class LLMSettings(BaseSettings):
    """Model provider settings."""

    model_config = _COMMON

    provider: LLMProvider = Field(
        LLMProvider.OFFLINE, validation_alias=AliasChoices("ECO2_LLM_PROVIDER")
    )
    model: str = Field("gpt-4o-mini", validation_alias=AliasChoices("ECO2_LLM_MODEL"))
    # The vision node's multimodal model (same provider); unset: ECO2_LLM_MODEL.
    vision_model: str | None = Field(None, validation_alias=AliasChoices("ECO2_VISION_MODEL"))
    api_key: SecretStr | None = Field(None, validation_alias=AliasChoices("OPENAI_API_KEY"))
    base_url: str | None = Field(None, validation_alias=AliasChoices("OPENAI_BASE_URL"))
    timeout_s: float = Field(30.0, gt=0, validation_alias=AliasChoices("ECO2_LLM_TIMEOUT_S"))
    max_retries: int = Field(2, ge=0, validation_alias=AliasChoices("ECO2_LLM_MAX_RETRIES"))
    # A hosted-model-like pace by default (tests set both to 0: as fast as possible).
    offline_ttft_s: float = Field(0.4, ge=0, validation_alias=AliasChoices("ECO2_OFFLINE_TTFT_S"))
    offline_tokens_per_s: float = Field(
        80.0, ge=0, validation_alias=AliasChoices("ECO2_OFFLINE_TOKENS_PER_S")
    )


class PipelineSettings(BaseSettings):
    """Pipeline tunables."""

    model_config = _COMMON

    subagent_timeout_s: float = Field(
        5.0, gt=0, validation_alias=AliasChoices("ECO2_SUBAGENT_TIMEOUT_S")
    )
    image_subagent_timeout_s: float = Field(
        95.0, gt=0, validation_alias=AliasChoices("ECO2_IMAGE_SUBAGENT_TIMEOUT_S")
    )
    vision_timeout_s: float = Field(
        15.0, gt=0, validation_alias=AliasChoices("ECO2_VISION_TIMEOUT_S")
    )
    rag_top_k: int = Field(3, ge=1, le=10, validation_alias=AliasChoices("ECO2_RAG_TOP_K"))
    history_messages: int = Field(
        6, ge=0, le=50, validation_alias=AliasChoices("ECO2_HISTORY_MESSAGES")
    )


class ServingSettings(BaseSettings):
    """API, queue, worker and event-stream settings (DESIGN.md §2, §4)."""

    model_config = _COMMON

    redis_url: str = Field(
        "redis://127.0.0.1:6379/0", validation_alias=AliasChoices("ECO2_REDIS_URL")
    )
    redis_prefix: str = Field("eco2", validation_alias=AliasChoices("ECO2_REDIS_PREFIX"))
    redis_max_connections: int = Field(
        2000, ge=10, validation_alias=AliasChoices("ECO2_REDIS_MAX_CONNECTIONS")
    )
    amqp_url: SecretStr = Field(
        SecretStr("amqp://guest:guest@127.0.0.1:5672/"),
        validation_alias=AliasChoices("ECO2_AMQP_URL"),
    )
    queue_name: str = Field("eco2.chat.jobs", validation_alias=AliasChoices("ECO2_QUEUE"))
    database_url: SecretStr | None = Field(None, validation_alias=AliasChoices("ECO2_DATABASE_URL"))
    stream_ttl_s: int = Field(600, ge=1, validation_alias=AliasChoices("ECO2_STREAM_TTL_S"))
    stream_max_len: int = Field(
        10_000, ge=100, validation_alias=AliasChoices("ECO2_STREAM_MAX_LEN")
    )
    # Jobs one worker process runs at once (RabbitMQ prefetch). A job mostly waits on the model,
    # so 8 left the process idle while jobs queued (11.6 s wait at 50 users). The ceiling is the
    # process's one core: about 22 ms of CPU per job, and each job lasts ~1-2 s at a hosted
    # model's pace, so 32 in flight keeps a worker near half a core with headroom for bursts;
    # past that, token latency suffers for every job: add worker processes instead (they compete
    # for the queue), with queue wait as the scaling signal.
    worker_concurrency: int = Field(
        32, ge=1, le=512, validation_alias=AliasChoices("ECO2_WORKER_CONCURRENCY")
    )
    # At most 25 minutes: RabbitMQ closes a channel whose delivery stays unacknowledged past its
    # consumer_timeout (30 minutes by default), redelivering every job in flight on it.
    job_timeout_s: float = Field(
        120.0, gt=0, le=1500, validation_alias=AliasChoices("ECO2_JOB_TIMEOUT_S")
    )
    shutdown_grace_s: float = Field(
        30.0, ge=0, validation_alias=AliasChoices("ECO2_SHUTDOWN_GRACE_S")
    )
    max_deliveries: int = Field(3, ge=1, validation_alias=AliasChoices("ECO2_MAX_DELIVERIES"))
    sse_keepalive_s: float = Field(
        15.0, gt=0, validation_alias=AliasChoices("ECO2_SSE_KEEPALIVE_S")
    )
    sse_client_buffer: int = Field(
        1000, ge=10, validation_alias=AliasChoices("ECO2_SSE_CLIENT_BUFFER")
    )
    sse_max_connection_s: float | None = Field(
        None, gt=0, validation_alias=AliasChoices("ECO2_SSE_MAX_CONNECTION_S")
    )
    max_body_bytes: int = Field(
        16_384, ge=1024, validation_alias=AliasChoices("ECO2_MAX_BODY_BYTES")
    )
    coalesce_tokens: int = Field(16, ge=1, validation_alias=AliasChoices("ECO2_COALESCE_TOKENS"))
    coalesce_delay_s: float = Field(
        0.01, ge=0, validation_alias=AliasChoices("ECO2_COALESCE_DELAY_S")
    )

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        # No host needed: redis-py connects to localhost then (``redis:///0``).
        return _checked_url(value, ("redis", "rediss", "unix"), "redis://host:6379/0", host=False)

    @field_validator("amqp_url")
    @classmethod
    def _amqp_url(cls, value: SecretStr) -> SecretStr:
        _checked_url(value.get_secret_value(), ("amqp", "amqps"), "amqp://user:pass@host:5672/")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            return None  # set but blank (``ECO2_DATABASE_URL=``): unset, in-memory history
        if value is not None:
            from psycopg import ProgrammingError
            from psycopg.conninfo import conninfo_to_dict

            try:  # what psycopg accepts: URLs (also multi-host, socket in the query), key=value
                conninfo_to_dict(value.get_secret_value())
            except ProgrammingError:  # its message may quote the value: not repeated
                raise ValueError(
                    "not a PostgreSQL URL or connection string "
                    "(expected e.g. postgresql://user@host:5432/db)"
                ) from None
        return value


class TelemetrySettings(BaseSettings):
    """Metrics and tracing switches (DESIGN.md §5)."""

    model_config = _COMMON

    metrics_enabled: bool = Field(True, validation_alias=AliasChoices("ECO2_METRICS_ENABLED"))
    default_tags: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=AliasChoices("ECO2_TRACE_TAGS")
    )

    @field_validator("default_tags", mode="before")
    @classmethod
    def _tags(cls, value: object) -> object:
        """A JSON list (``'["team:eco2"]'``) or comma-separated tags (``team:eco2,web``)."""
        if not isinstance(value, str):
            return value
        if value.lstrip().startswith("["):
            try:
                return json.loads(value)
            except ValueError:
                raise ValueError("not a JSON list of tags") from None
        return [tag.strip() for tag in value.split(",") if tag.strip()]

    worker_metrics_port: int = Field(
        9101, ge=0, le=65535, validation_alias=AliasChoices("ECO2_WORKER_METRICS_PORT")
    )


class Settings(BaseSettings):
    """Everything the composition root needs."""

    model_config = _COMMON

    environment: str = Field("dev", validation_alias=AliasChoices("ECO2_ENV"))
    llm: LLMSettings = Field(default_factory=LLMSettings)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    serving: ServingSettings = Field(default_factory=ServingSettings)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
