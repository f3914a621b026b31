"""Settings of the external integrations (issue 5), read from the environment.

Every field names its environment variable explicitly (``validation_alias``), like
``eco2.settings`` does. Keys are ``SecretStr``; a blank key is unset (its sub-agent answers "not
configured" instead of sending empty credentials). The data.go.kr portal shows each key twice,
"Encoding" (percent-encoded) and "Decoding"; either is accepted. Base URLs must use HTTPS unless
their host is a loopback address (local test servers). Adapters receive these values as
arguments; nothing here connects or reads the environment at import time.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import unquote, urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})
_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
KEY_FIELDS = (
    "kakao_api_key",
    "data_go_kr_api_key",
    "odcloud_api_key",
    "tavily_api_key",
    "openai_api_key",
)


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(url: str) -> str:
    """Return ``url`` without a trailing slash if it is HTTPS, or HTTP on a loopback host.

    Args:
        url: An absolute base URL.

    Returns:
        The URL with any trailing ``/`` removed.

    Raises:
        ValueError: The URL is not absolute, or uses plain HTTP on a non-loopback host.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host or parts.scheme not in {"http", "https"}:
        raise ValueError(f"not an absolute http(s) URL: {parts.scheme}://{host}")
    if parts.username or parts.password:
        raise ValueError("base URLs must not carry credentials")
    if parts.scheme != "https" and not _is_loopback(host):
        raise ValueError(f"{host}: HTTPS is required unless the host is loopback")
    return url.rstrip("/")


def blank_as_unset(value: object) -> object:
    """Map a blank key to ``None``, the "not configured" value.

    ``KEY=`` in an env file or an empty secret means "no key": sent as is, it would only be
    rejected by the provider (and an empty Tavily key would shadow DuckDuckGo).

    Args:
        value: The raw field input (``str``, ``SecretStr`` or ``None``).

    Returns:
        ``None`` for an empty or whitespace-only key, else the key without surrounding
        whitespace (a trailing newline from a secret file is never part of a key).
    """
    raw = value.get_secret_value() if isinstance(value, SecretStr) else value
    if not isinstance(raw, str):
        return value
    return raw.strip() or None


def decode_service_key(key: str) -> str:
    """Return a data.go.kr key in its decoded form, whichever of the portal's two was given.

    httpx percent-encodes query parameters, so the "Encoding" key (``…%2B…%3D``) would be sent
    encoded twice and rejected. A decoded key never contains ``%`` (it is base64), so a ``%``
    escape means the encoded form: it is unquoted once.

    Args:
        key: The key as pasted from the portal.

    Returns:
        The decoded key, ready for httpx to encode.
    """
    return unquote(key) if _PERCENT_ESCAPE.search(key) else key


def _alias(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class IntegrationSettings(BaseSettings):
    """Keys, endpoints and resilience tunables of the external providers (DESIGN.md §8)."""

    model_config = SettingsConfigDict(extra="ignore", env_file=None, populate_by_name=True)

    # Kakao Local (location).
    kakao_api_key: SecretStr | None = Field(None, validation_alias=_alias("ECO2_KAKAO_API_KEY"))
    kakao_base_url: str = Field(
        "https://dapi.kakao.com", validation_alias=_alias("ECO2_KAKAO_BASE_URL")
    )
    # data.go.kr (KMA weather, MOIS household waste) share one key.
    data_go_kr_api_key: SecretStr | None = Field(
        None, validation_alias=_alias("ECO2_DATA_GO_KR_API_KEY")
    )
    kma_base_url: str = Field(
        "https://apis.data.go.kr/1360000/VilageFcstInfoService_2.0",
        validation_alias=_alias("ECO2_KMA_BASE_URL"),
    )
    mois_base_url: str = Field(
        "https://apis.data.go.kr/1741000/household_waste_info",
        validation_alias=_alias("ECO2_MOIS_BASE_URL"),
    )
    # odcloud (KECO collection boxes).
    odcloud_api_key: SecretStr | None = Field(None, validation_alias=_alias("ECO2_ODCLOUD_API_KEY"))
    keco_base_url: str = Field(
        "https://api.odcloud.kr/api/15106385/v1", validation_alias=_alias("ECO2_KECO_BASE_URL")
    )
    keco_dataset_path: str = Field(
        # The collection-box (폐전자제품 수거함) file dataset's uddi as of 2024-10-28; odcloud
        # issues a new uddi when the file is replaced: check data.go.kr/data/15106385.
        "/uddi:4977d714-dca6-4bda-a10f-9bed30e2ce9c",
        min_length=2,
        validation_alias=_alias("ECO2_KECO_DATASET_PATH"),
        description="Dataset path under the KECO base URL (the uddi:… path of the file data).",
    )
    # Web search and image generation (another engineer's adapters).
    # DuckDuckGo needs no key but does need the internet: it is opt-in, so the offline default
    # never waits on a network it does not have. A Tavily key switches web search on by itself.
    duckduckgo_enabled: bool = Field(False, validation_alias=_alias("ECO2_DUCKDUCKGO_ENABLED"))
    tavily_api_key: SecretStr | None = Field(None, validation_alias=_alias("ECO2_TAVILY_API_KEY"))
    tavily_base_url: str = Field(
        "https://api.tavily.com", validation_alias=_alias("ECO2_TAVILY_BASE_URL")
    )
    # A model answering with a link: an inline (base64) image cannot travel in a chat answer.
    image_model: str = Field("dall-e-3", validation_alias=_alias("ECO2_IMAGE_MODEL"))
    openai_api_key: SecretStr | None = Field(None, validation_alias=_alias("OPENAI_API_KEY"))
    # Not OPENAI_BASE_URL: that one is the chat model's and may point at a vLLM/Ollama server
    # (plain HTTP in-cluster, no /images/generations endpoint).
    image_base_url: str = Field(
        "https://api.openai.com/v1", validation_alias=_alias("ECO2_IMAGE_BASE_URL")
    )
    # Character service: None = the in-process adapter.
    character_grpc_target: str | None = Field(
        None, validation_alias=_alias("ECO2_CHARACTER_GRPC_TARGET")
    )
    character_grpc_port: int = Field(
        50051, ge=1, le=65535, validation_alias=_alias("ECO2_CHARACTER_GRPC_PORT")
    )
    character_timeout_s: float = Field(
        1.0,
        gt=0,
        le=60,
        validation_alias=_alias("ECO2_CHARACTER_TIMEOUT_S"),
        description="Deadline of each character-service call; keep below the sub-agent timeout.",
    )
    # Default location when neither user_location nor a named place is given (central Seoul).
    default_latitude: float = Field(
        37.5665, ge=33.0, le=39.0, validation_alias=_alias("ECO2_DEFAULT_LATITUDE")
    )
    default_longitude: float = Field(
        126.9780, ge=124.0, le=132.0, validation_alias=_alias("ECO2_DEFAULT_LONGITUDE")
    )
    default_location_name: str = Field(
        "서울 중구", validation_alias=_alias("ECO2_DEFAULT_LOCATION_NAME")
    )
    # Resilience.
    http_connect_timeout_s: float = Field(
        3.0, gt=0, le=60, validation_alias=_alias("ECO2_HTTP_CONNECT_TIMEOUT_S")
    )
    http_read_timeout_s: float = Field(
        5.0, gt=0, le=120, validation_alias=_alias("ECO2_HTTP_READ_TIMEOUT_S")
    )
    http_max_connections: int = Field(
        50, ge=1, le=1000, validation_alias=_alias("ECO2_HTTP_MAX_CONNECTIONS")
    )
    http_retries: int = Field(2, ge=0, le=10, validation_alias=_alias("ECO2_HTTP_RETRIES"))
    http_backoff_base_s: float = Field(
        0.2, ge=0, le=10, validation_alias=_alias("ECO2_HTTP_BACKOFF_BASE_S")
    )
    http_backoff_max_s: float = Field(
        2.0, ge=0, le=60, validation_alias=_alias("ECO2_HTTP_BACKOFF_MAX_S")
    )
    http_retry_after_max_s: float = Field(
        5.0, ge=0, le=120, validation_alias=_alias("ECO2_HTTP_RETRY_AFTER_MAX_S")
    )
    http_deadline_s: float = Field(
        4.5,
        gt=0,
        le=300,
        validation_alias=_alias("ECO2_HTTP_DEADLINE_S"),
        description="Budget of one provider call, retries included; keep below the sub-agent "
        "timeout (ECO2_SUBAGENT_TIMEOUT_S) so the breaker sees slow providers fail.",
    )
    breaker_failure_threshold: int = Field(
        5, ge=1, le=1000, validation_alias=_alias("ECO2_BREAKER_FAILURE_THRESHOLD")
    )
    breaker_reset_timeout_s: float = Field(
        30.0, gt=0, le=3600, validation_alias=_alias("ECO2_BREAKER_RESET_TIMEOUT_S")
    )

    @field_validator(*KEY_FIELDS, mode="before")
    @classmethod
    def _blank_key_is_unset(cls, value: object) -> object:
        return blank_as_unset(value)

    @field_validator("data_go_kr_api_key", "odcloud_api_key")
    @classmethod
    def _decoded_service_key(cls, value: SecretStr | None) -> SecretStr | None:
        # odcloud datasets are data.go.kr's too: same portal, same two forms of the key.
        return None if value is None else SecretStr(decode_service_key(value.get_secret_value()))

    @field_validator(
        "kakao_base_url",
        "kma_base_url",
        "mois_base_url",
        "keco_base_url",
        "tavily_base_url",
        "image_base_url",
    )
    @classmethod
    def _https_base_url(cls, value: str) -> str:
        return check_base_url(value)

    @field_validator("keco_dataset_path")
    @classmethod
    def _dataset_path(cls, value: str) -> str:
        return "/" + value.strip("/")
