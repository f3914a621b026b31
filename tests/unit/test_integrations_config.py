"""IntegrationSettings: documented variable names, defaults, HTTPS validation, secrets."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from eco2.infrastructure.integrations.config import IntegrationSettings, check_base_url


def test_defaults_are_the_documented_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ECO2_KAKAO_API_KEY", "ECO2_DATA_GO_KR_API_KEY", "ECO2_ODCLOUD_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    settings = IntegrationSettings()
    assert settings.kakao_base_url == "https://dapi.kakao.com"
    assert settings.kma_base_url == "https://apis.data.go.kr/1360000/VilageFcstInfoService_2.0"
    assert settings.mois_base_url == "https://apis.data.go.kr/1741000/household_waste_info"
    assert settings.keco_base_url == "https://api.odcloud.kr/api/15106385/v1"
    assert settings.tavily_base_url == "https://api.tavily.com"
    assert settings.kakao_api_key is None
    assert settings.character_grpc_target is None
    assert settings.character_grpc_port == 50051
    assert (settings.default_latitude, settings.default_longitude) == (37.5665, 126.9780)


def test_reads_the_documented_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "ECO2_KAKAO_API_KEY": "kakao-secret",
        "ECO2_KAKAO_BASE_URL": "http://127.0.0.1:8123/",
        "ECO2_DATA_GO_KR_API_KEY": "data-secret",
        "ECO2_ODCLOUD_API_KEY": "odcloud-secret",
        "ECO2_KECO_DATASET_PATH": "uddi:abc-123/",
        "ECO2_TAVILY_API_KEY": "tvly-secret",
        "OPENAI_API_KEY": "sk-secret",
        "ECO2_CHARACTER_GRPC_TARGET": "characters:50051",
        "ECO2_HTTP_RETRIES": "4",
        "ECO2_BREAKER_FAILURE_THRESHOLD": "3",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = IntegrationSettings()
    assert settings.kakao_api_key is not None
    assert settings.kakao_api_key.get_secret_value() == "kakao-secret"
    assert settings.kakao_base_url == "http://127.0.0.1:8123"
    assert settings.keco_dataset_path == "/uddi:abc-123"
    assert settings.http_retries == 4 and settings.breaker_failure_threshold == 3
    assert settings.character_grpc_target == "characters:50051"
    dumped = repr(settings) + str(settings.model_dump())
    for secret in ("kakao-secret", "data-secret", "odcloud-secret", "tvly-secret", "sk-secret"):
        assert secret not in dumped


@pytest.mark.parametrize(
    "url",
    ["http://dapi.kakao.com", "ftp://example.com", "dapi.kakao.com", "https://u:p@example.com"],
)
def test_rejects_plain_http_and_odd_urls(url: str) -> None:
    with pytest.raises(ValidationError):
        IntegrationSettings(ECO2_KAKAO_BASE_URL=url)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9000", "http://localhost:1", "http://[::1]:80", "https://x.kr/a/"]
)
def test_accepts_https_and_loopback_http(url: str) -> None:
    assert check_base_url(url) == url.rstrip("/")
