"""KMA weather: grid conversion, KST base times, envelope handling and the report mapping."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from eco2.domain.chat import GeoPoint
from eco2.domain.errors import NotConfiguredError
from eco2.infrastructure.integrations.http import (
    HttpProvider,
    ProviderAuthError,
    ProviderErrorCode,
    RetryPolicy,
    Scrubber,
    create_async_client,
)
from eco2.infrastructure.integrations.kma import KmaWeather, ProviderNoDataError
from eco2.infrastructure.integrations.kma_grid import (
    NamedPlace,
    find_place,
    forecast_base,
    latlon_to_grid,
    observation_base,
    previous_forecast_base,
)
from tests.fakes.providers.http_payloads import (
    KEY,
    data_go_kr,
    data_go_kr_error,
    data_go_kr_xml_error,
    kma_forecast,
    kma_observation,
)
from tests.fakes.providers.http_scripted import Scripted, json_reply, text_reply

NOW = datetime(2026, 11, 24, 14, 30, tzinfo=UTC)  # 23:30 KST
SEOUL = NamedPlace("서울 중구", 37.5665, 126.9780)


@pytest.mark.parametrize(
    ("lat", "lon", "grid"),
    [
        (37.5665, 126.9780, (60, 127)),  # central Seoul (City Hall), the documented point
        # The next two are level-1 rows of KMA's published grid table (활용가이드 격자_위경도):
        (35.1770194444444, 129.076952777777, (98, 76)),  # 부산광역시
        (33.4856944444444, 126.500333333333, (52, 38)),  # 제주특별자치도
        (38.0, 126.0, (43, 136)),  # the projection origin maps to the origin grid point
    ],
)
def test_latlon_to_grid_known_points(lat: float, lon: float, grid: tuple[int, int]) -> None:
    assert latlon_to_grid(lat, lon) == grid


@pytest.fixture
def foreign_timezone() -> Iterator[None]:
    """Run with the machine in New York time, to prove KST is computed explicitly."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ")
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.mark.usefixtures("foreign_timezone")
@pytest.mark.parametrize(
    ("utc", "observation", "forecast"),
    [
        ((14, 30), ("20261124", "2200"), ("20261124", "2300")),  # 23:30 KST
        ((14, 40), ("20261124", "2300"), ("20261124", "2300")),  # 23:40: this hour is out
        ((15, 5), ("20261124", "2300"), ("20261124", "2300")),  # 00:05 KST next day
        ((17, 5), ("20261125", "0100"), ("20261124", "2300")),  # 02:05: 0200 not out yet
        ((17, 15), ("20261125", "0100"), ("20261125", "0200")),  # 02:15 KST
        ((2, 5), ("20261124", "1000"), ("20261124", "0800")),  # 11:05: 1100 not out yet
        ((2, 11), ("20261124", "1000"), ("20261124", "1100")),  # 11:11 KST
    ],
)
def test_base_times_are_kst(
    utc: tuple[int, int], observation: tuple[str, str], forecast: tuple[str, str]
) -> None:
    now = datetime(2026, 11, 24, *utc, tzinfo=UTC)
    assert observation_base(now) == observation
    assert forecast_base(now) == forecast
    assert observation_base(now.replace(tzinfo=None)) == observation  # naive means UTC


def test_gazetteer_prefers_the_longest_name() -> None:
    place = find_place("강남역 근처 날씨")
    assert place is not None and place.name == "강남역"
    assert find_place("서울 강남구 비 와?") is not None
    assert find_place("내일 날씨 어때") is None


def make(scripted: Scripted, key: str | None = KEY, now: datetime = NOW) -> KmaWeather:
    scrubber = Scrubber([KEY])
    client = create_async_client(
        base_url="https://kma.test/VilageFcstInfoService_2.0",
        transport=scripted.transport(),
        scrubber=scrubber,
    )

    async def no_sleep(_: float) -> None:
        return None

    http = HttpProvider(
        "kma", client, retry=RetryPolicy(retries=1), scrubber=scrubber, sleep=no_sleep
    )
    return KmaWeather(
        http,
        SecretStr(key) if key else None,
        default_location=SEOUL,
        clock=lambda: now,
    )


def observation(**values: str) -> object:
    return data_go_kr({"item": kma_observation("20261124", "2200", **values)})


def forecast() -> object:
    slots = {
        ("20261124", "2200"): {"TMP": "99", "SKY": "1", "PTY": "0", "POP": "100"},  # past slot
        ("20261125", "0000"): {"TMP": "10", "SKY": "4", "PTY": "0", "POP": "30"},
        ("20261125", "0100"): {"TMP": "9", "SKY": "4", "PTY": "1", "POP": "70"},
        ("20261126", "1200"): {"TMP": "9", "SKY": "4", "PTY": "1", "POP": "90"},  # > 12 h
    }
    return data_go_kr({"item": kma_forecast("20261124", "2300", slots)})


async def test_report_combines_observation_and_forecast() -> None:
    scripted = Scripted().on("/getUltraSrtNcst", json_reply(observation()))
    scripted.on("/getVilageFcst", json_reply(forecast()))
    report = await make(scripted).report(None, "내일 날씨 어때?")
    assert report.location_name == "서울 중구"
    assert report.temperature_c == 12.3
    assert report.condition == "흐림"
    assert report.precipitation_probability == 70
    assert "70%" in report.advice and "덮어" in report.advice
    assert report.observed_at == "2026-11-24 22:00 KST"
    obs = scripted.calls("/getUltraSrtNcst")[0].url.params
    assert (obs["nx"], obs["ny"], obs["base_date"], obs["base_time"]) == (
        "60",
        "127",
        "20261124",
        "2200",
    )
    assert obs["dataType"] == "JSON" and obs["serviceKey"] == KEY
    fc = scripted.calls("/getVilageFcst")[0].url.params
    assert (fc["base_date"], fc["base_time"]) == ("20261124", "2300")


async def test_location_from_near_or_a_named_place() -> None:
    scripted = Scripted().on("/getUltraSrtNcst", json_reply(observation()))
    scripted.on("/getVilageFcst", json_reply(forecast()))
    weather = make(scripted)
    report = await weather.report(GeoPoint(35.1770194444444, 129.076952777777), "날씨")
    assert report.location_name == "현재 위치"
    assert scripted.calls("/getUltraSrtNcst")[-1].url.params["nx"] == "98"
    report = await weather.report(None, "제주 날씨 알려줘")
    assert report.location_name == "제주"
    params = scripted.calls("/getUltraSrtNcst")[-1].url.params
    assert (params["nx"], params["ny"]) == ("53", "38")


async def test_rain_now_advises_waiting() -> None:
    scripted = Scripted().on("/getUltraSrtNcst", json_reply(observation(PTY="1")))
    scripted.on("/getVilageFcst", json_reply(forecast()))
    report = await make(scripted).report(None, "")
    assert report.condition == "비"
    assert report.advice.startswith("지금 비나 눈이 와요")


async def test_observation_down_degrades_to_the_forecast() -> None:
    scripted = Scripted().on("/getUltraSrtNcst", json_reply({}, 500))
    scripted.on("/getVilageFcst", json_reply(forecast()))
    report = await make(scripted).report(None, "")
    assert report.temperature_c == 10.0
    assert report.advice.startswith("현재 관측값을 받지 못해 예보 기준이에요.")
    assert report.observed_at.endswith("예보")


async def test_error_code_under_http_200_is_an_error() -> None:
    scripted = Scripted().on("", json_reply(data_go_kr_error("10", "INVALID_REQUEST_PARAMETER")))
    with pytest.raises(ProviderErrorCode, match="10"):
        await make(scripted).report(None, "")


async def test_transient_code_is_retried() -> None:
    scripted = Scripted().on(
        "/getUltraSrtNcst",
        json_reply(data_go_kr_error("05", "SERVICETIME_OUT")),
        json_reply(observation()),
    )
    scripted.on("/getVilageFcst", json_reply(forecast()))
    report = await make(scripted).report(None, "")
    assert report.temperature_c == 12.3
    assert len(scripted.calls("/getUltraSrtNcst")) == 2


async def test_xml_key_error_is_an_auth_error_without_the_key() -> None:
    scripted = Scripted().on("", text_reply(data_go_kr_xml_error()))
    with pytest.raises(ProviderAuthError, match="SERVICE_KEY_IS_NOT_REGISTERED") as caught:
        await make(scripted).report(None, "")
    assert KEY not in str(caught.value)


async def test_no_data_anywhere_is_reported() -> None:
    scripted = Scripted().on("", json_reply(data_go_kr_error("03", "NODATA_ERROR")))
    with pytest.raises(ProviderNoDataError):
        await make(scripted).report(None, "")


async def test_missing_key_is_not_configured() -> None:
    scripted = Scripted()
    with pytest.raises(NotConfiguredError):
        await make(scripted, key=None).report(None, "")
    assert scripted.requests == []


@pytest.mark.parametrize(
    ("base", "previous"),
    [
        (("20261124", "2300"), ("20261124", "2000")),
        (("20261124", "0500"), ("20261124", "0200")),
        (("20261125", "0200"), ("20261124", "2300")),  # across midnight the date changes
        (("20260301", "0200"), ("20260228", "2300")),  # … and across a month end
    ],
)
def test_previous_forecast_base(base: tuple[str, str], previous: tuple[str, str]) -> None:
    assert previous_forecast_base(*base) == previous


JUST_AFTER_0210 = datetime(2026, 11, 24, 17, 11, tzinfo=UTC)  # 02:11 KST: 0200 is due, not out


async def test_unpublished_forecast_falls_back_to_the_previous_base() -> None:
    slots = {("20261125", "0300"): {"TMP": "5", "SKY": "4", "PTY": "1", "POP": "80"}}
    scripted = Scripted().on(
        "/getUltraSrtNcst", json_reply(data_go_kr({"item": kma_observation("20261125", "0100")}))
    )
    scripted.on(
        "/getVilageFcst",
        json_reply(data_go_kr_error("03", "NODATA_ERROR")),
        json_reply(data_go_kr({"item": kma_forecast("20261124", "2300", slots)})),
    )
    report = await make(scripted, now=JUST_AFTER_0210).report(None, "")
    bases = [(r.url.params["base_date"], r.url.params["base_time"]) for r in scripted.calls()]
    assert bases[1:] == [("20261125", "0200"), ("20261124", "2300")]
    assert report.precipitation_probability == 80
    assert "80%" in report.advice and "비 소식이 없어" not in report.advice


@pytest.mark.parametrize(
    "forecast_reply",
    [json_reply({}, 503), json_reply(data_go_kr_error("03", "NODATA_ERROR"))],
    ids=["forecast down", "no forecast published"],
)
async def test_without_a_forecast_the_advice_promises_no_dry_weather(
    forecast_reply: httpx.Response,
) -> None:
    scripted = Scripted().on("/getUltraSrtNcst", json_reply(observation()))
    scripted.on("/getVilageFcst", forecast_reply)
    report = await make(scripted).report(None, "")
    assert report.temperature_c == 12.3 and report.precipitation_probability is None
    assert "비 소식이 없어" not in report.advice
    assert report.advice.startswith("지금은 비나 눈이 오지 않아요.")
    assert "알 수 없어요" in report.advice
