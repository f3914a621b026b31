"""IntegrationSettings: documented variable names, defaults, HTTPS validation, secrets."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest
from pydantic import ValidationError

from eco2.infrastructure.integrations.config import IntegrationSettings, check_base_url
from eco2.infrastructure.integrations.factory import build_http_integrations
from eco2.infrastructure.integrations.factory_other import build_other_integrations
from eco2.infrastructure.integrations.kma import KmaWeather
from eco2.infrastructure.integrations.web_search import DuckDuckGoSearch
from tests.fakes.providers.http_payloads import (
    KEY,
    data_go_kr,
    data_go_kr_error,
    kma_observation,
)

KEY_VARIABLES = (
    "ECO2_KAKAO_API_KEY",
    "ECO2_DATA_GO_KR_API_KEY",
    "ECO2_ODCLOUD_API_KEY",
    "ECO2_TAVILY_API_KEY",
    "OPENAI_API_KEY",
)


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


@pytest.mark.parametrize("blank", ["", "  ", "\t\n"])
async def test_blank_keys_are_unset(monkeypatch: pytest.MonkeyPatch, blank: str) -> None:
    # KEY= in an env file: the not-configured adapters answer, no request goes out with an
    # empty credential, and an empty Tavily key leaves DuckDuckGo switched on.
    for name in KEY_VARIABLES:
        monkeypatch.setenv(name, blank)
    monkeypatch.setenv("ECO2_DUCKDUCKGO_ENABLED", "true")
    settings = IntegrationSettings()
    keys = (settings.kakao_api_key, settings.data_go_kr_api_key, settings.odcloud_api_key)
    assert keys == (None, None, None)
    assert (settings.tavily_api_key, settings.openai_api_key) == (None, None)
    http = build_http_integrations(settings)
    other = build_other_integrations(settings)
    try:
        assert type(http["location"]).__name__ == "NotConfiguredLocation"
        assert type(http["weather"]).__name__ == "NotConfiguredWeather"
        assert type(http["collection_points"]).__name__ == "NotConfiguredCollectionPoints"
        assert type(http["bulk_waste"]).__name__ == "LocalBulkWasteFees"
        assert isinstance(other["web_search"], DuckDuckGoSearch)
        assert type(other["image_generation"]).__name__ == "NotConfiguredImageGeneration"
        assert http["providers"] == () and other["providers"] == ()
    finally:
        for built in (http, other):
            await built["aclose"]()  # type: ignore[operator]


def test_keys_lose_surrounding_whitespace() -> None:
    settings = IntegrationSettings(ECO2_KAKAO_API_KEY=" kakao-secret\n")
    assert settings.kakao_api_key is not None
    assert settings.kakao_api_key.get_secret_value() == "kakao-secret"


@pytest.mark.parametrize("variable", ["ECO2_DATA_GO_KR_API_KEY", "ECO2_ODCLOUD_API_KEY"])
@pytest.mark.parametrize("pasted", [KEY, quote(KEY, safe="")], ids=["decoding", "encoding"])
def test_either_form_of_a_data_go_kr_key_is_accepted(variable: str, pasted: str) -> None:
    assert "%" in quote(KEY, safe="")  # the fixture key has characters the portal encodes
    settings = IntegrationSettings.model_validate({variable: pasted})
    key = settings.data_go_kr_api_key or settings.odcloud_api_key
    assert key is not None and key.get_secret_value() == KEY


async def test_an_encoding_key_is_sent_encoded_once() -> None:
    sent: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.url)
        if request.url.path.endswith("/getVilageFcst"):
            return httpx.Response(200, json=data_go_kr_error("03", "NODATA_ERROR"))
        return httpx.Response(200, json=data_go_kr({"item": kma_observation("20261124", "2200")}))

    settings = IntegrationSettings(ECO2_DATA_GO_KR_API_KEY=quote(KEY, safe=""))
    built = build_http_integrations(settings, transport=httpx.MockTransport(handler))
    try:
        weather = built["weather"]
        assert isinstance(weather, KmaWeather)
        await weather.report(None, "날씨")
    finally:
        await built["aclose"]()  # type: ignore[operator]
    assert sent and all(url.params["serviceKey"] == KEY for url in sent)
    assert all("%25" not in str(url) for url in sent)  # no double encoding
