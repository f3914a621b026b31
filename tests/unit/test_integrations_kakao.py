"""Kakao Local against a real local Starlette server: anchors, limits, errors, timeouts."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from pydantic import SecretStr

from eco2.domain.chat import GeoPoint
from eco2.domain.errors import NotConfiguredError
from eco2.infrastructure.integrations.config import IntegrationSettings
from eco2.infrastructure.integrations.factory import build_http_integrations
from eco2.infrastructure.integrations.http import (
    ProviderAuthError,
    ProviderRateLimitedError,
    ProviderUnavailableError,
)
from eco2.infrastructure.integrations.kakao import KakaoLocal, split_anchor
from tests.fakes.providers.http_payloads import KEY
from tests.fakes.providers.kakao_server import FakeKakao
from tests.fakes.server import serving


@pytest.fixture
def fake() -> FakeKakao:
    return FakeKakao(key=KEY)


@pytest.fixture
def base_url(fake: FakeKakao) -> Iterator[str]:
    with serving(fake.app(), "fake kakao") as url:
        yield url


@pytest.fixture
async def build() -> AsyncIterator[Callable[[IntegrationSettings], dict[str, object]]]:
    """``build_http_integrations`` whose clients are closed after the test."""
    built: list[dict[str, object]] = []

    def make(settings: IntegrationSettings) -> dict[str, object]:
        built.append(build_http_integrations(settings))
        return built[-1]

    yield make
    for adapters in built:
        await adapters["aclose"]()  # type: ignore[operator]


Build = Callable[[IntegrationSettings], dict[str, object]]


def settings(base_url: str, key: str | None = KEY, **extra: object) -> IntegrationSettings:
    values: dict[str, object] = {
        "ECO2_KAKAO_BASE_URL": base_url,
        "ECO2_HTTP_BACKOFF_BASE_S": 0.01,
        "ECO2_HTTP_BACKOFF_MAX_S": 0.02,
        **extra,
    }
    if key is not None:
        values["ECO2_KAKAO_API_KEY"] = key
    return IntegrationSettings.model_validate(values)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("강남역 근처 제로웨이스트샵 찾아줘", ("강남역", "제로웨이스트샵")),
        ("서울 강남역 주변에 재활용센터 어디 있어?", ("강남역", "재활용센터")),
        ("홍대입구역 근처에서 리필스테이션 알려줘", ("홍대입구역", "리필스테이션")),
        ("홍대 주변 리필스테이션", ("홍대", "리필스테이션")),
        ("서울역 이 근처 카페", ("서울역", "카페")),  # "this" after a place still means it
        ("제로웨이스트샵 추천해줘", (None, "제로웨이스트샵")),
    ],
)
def test_split_anchor(text: str, expected: tuple[str | None, str]) -> None:
    assert split_anchor(text) == expected


@pytest.mark.parametrize(
    ("text", "query"),
    [
        ("내 주변 제로웨이스트샵 알려줘", "제로웨이스트샵"),
        ("이 근처 재활용센터 어디 있어?", "재활용센터"),
        ("우리 집 근처 리필스테이션", "리필스테이션"),
        ("여기 근처 고물상", "고물상"),
        ("현재 위치 주변 고물상 찾아줘", "고물상"),
        ("지금 근처 재활용센터", "재활용센터"),
        ("제 주변 제로웨이스트샵", "제로웨이스트샵"),
        ("저희 집 근처 재활용센터", "재활용센터"),
        ("집근처 고물상", "고물상"),
        ("우리 회사 근처 리필스테이션", "리필스테이션"),  # the user's own place: not searchable
        ("나의 회사 근처 카페 알려줘", "카페"),
        ("저의 학교 근처 재활용센터", "재활용센터"),
    ],
)
def test_words_pointing_at_the_user_are_no_anchor(text: str, query: str) -> None:
    assert split_anchor(text) == (None, query)


async def test_near_me_searches_around_the_user(
    fake: FakeKakao, base_url: str, build: Build
) -> None:
    location = build(settings(base_url))["location"]
    assert isinstance(location, KakaoLocal)
    await location.search("내 주변 제로웨이스트샵 알려줘", GeoPoint(37.5665, 126.978))
    (only,) = fake.requests  # no anchor lookup for "내"
    assert only["query"] == "제로웨이스트샵"
    assert (only["x"], only["y"]) == ("126.978000", "37.566500")


async def test_named_place_becomes_the_anchor(fake: FakeKakao, base_url: str, build: Build) -> None:
    adapters = build(settings(base_url))
    location = adapters["location"]
    assert isinstance(location, KakaoLocal)
    places = await location.search("강남역 근처 제로웨이스트샵 찾아줘", None)
    assert [p.name for p in places] == ["알맹상점", "지구샵 제로웨이스트홈"]
    assert places[0].distance_m == 150 and places[0].phone == "02-555-0101"
    assert places[0].address == "서울 강남구 강남대로 396"
    anchor, search = fake.requests
    assert anchor["query"] == "강남역" and "x" not in anchor
    assert search["query"] == "제로웨이스트샵"
    assert (search["x"], search["y"]) == ("127.027610", "37.497950")
    assert search["radius"] == "2000" and search["size"] == "15" and search["sort"] == "distance"


async def test_unknown_anchor_joins_the_query(fake: FakeKakao, base_url: str, build: Build) -> None:
    fake.unknown = {"미지의광장"}
    location = build(settings(base_url))["location"]
    assert isinstance(location, KakaoLocal)
    places = await location.search("미지의광장 근처 제로웨이스트샵 알려줘", GeoPoint(37.5, 127.0))
    assert places
    anchor, search = fake.requests
    assert anchor["query"] == "미지의광장"
    assert search["query"] == "미지의광장 제로웨이스트샵"
    assert (search["x"], search["y"]) == ("127.000000", "37.500000")  # falls back to near


async def test_user_location_without_a_named_place(
    fake: FakeKakao, base_url: str, build: Build
) -> None:
    adapters = build(settings(base_url))
    location = adapters["location"]
    assert isinstance(location, KakaoLocal)
    await location.search("제로웨이스트샵 찾아줘", GeoPoint(37.5, 127.0))
    (only,) = fake.requests
    assert (only["x"], only["y"]) == ("127.000000", "37.500000")


async def test_no_coordinates_means_no_distance(
    fake: FakeKakao, base_url: str, build: Build
) -> None:
    adapters = build(settings(base_url))
    location = adapters["location"]
    assert isinstance(location, KakaoLocal)
    places = await location.search("제로웨이스트샵", None)
    assert places and all(p.distance_m is None for p in places)
    assert "radius" not in fake.requests[0]


async def test_empty_results(fake: FakeKakao, base_url: str, build: Build) -> None:
    fake.places = []
    adapters = build(settings(base_url))
    location = adapters["location"]
    assert isinstance(location, KakaoLocal)
    assert await location.search("강남역 근처 없는가게", None) == []


async def test_wrong_key_is_an_auth_error(
    base_url: str, caplog: pytest.LogCaptureFixture, build: Build
) -> None:
    caplog.set_level(logging.DEBUG)
    adapters = build(settings(base_url, key="wrong-key-123"))
    location = adapters["location"]
    assert isinstance(location, KakaoLocal)
    with pytest.raises(ProviderAuthError) as caught:
        await location.search("제로웨이스트샵", None)
    assert "wrong-key-123" not in str(caught.value) + caplog.text


async def test_rate_limited_after_retries(fake: FakeKakao, base_url: str, build: Build) -> None:
    fake.status = 429
    adapters = build(settings(base_url, ECO2_HTTP_RETRIES=1))
    location = adapters["location"]
    assert isinstance(location, KakaoLocal)
    with pytest.raises(ProviderRateLimitedError):
        await location.search("제로웨이스트샵", None)
    assert len(fake.requests) == 2


async def test_slow_server_past_the_read_timeout(
    fake: FakeKakao, base_url: str, build: Build
) -> None:
    fake.delay_s = 0.5
    adapters = build(settings(base_url, ECO2_HTTP_READ_TIMEOUT_S=0.1, ECO2_HTTP_RETRIES=0))
    location = adapters["location"]
    assert isinstance(location, KakaoLocal)
    with pytest.raises(ProviderUnavailableError, match="ReadTimeout"):
        await location.search("제로웨이스트샵", None)


async def test_limits_are_validated(base_url: str, build: Build) -> None:
    adapters = build(settings(base_url))
    location = adapters["location"]
    assert isinstance(location, KakaoLocal)
    http = location._http
    with pytest.raises(ValueError, match="radius"):
        KakaoLocal(http, SecretStr(KEY), radius_m=20_001)
    with pytest.raises(ValueError, match="size"):
        KakaoLocal(http, SecretStr(KEY), size=16)
    with pytest.raises(NotConfiguredError):
        await KakaoLocal(http, None).search("제로웨이스트샵", None)


def test_missing_keys_build_not_configured_adapters(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ECO2_KAKAO_API_KEY", "ECO2_DATA_GO_KR_API_KEY", "ECO2_ODCLOUD_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    adapters = build_http_integrations(IntegrationSettings.model_validate({}))
    assert type(adapters["location"]).__name__ == "NotConfiguredLocation"
    assert type(adapters["weather"]).__name__ == "NotConfiguredWeather"
    assert type(adapters["collection_points"]).__name__ == "NotConfiguredCollectionPoints"
    assert type(adapters["bulk_waste"]).__name__ == "LocalBulkWasteFees"
    assert adapters["providers"] == ()
