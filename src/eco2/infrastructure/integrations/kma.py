"""``WeatherPort`` over KMA's short-term forecast (data.go.kr ``VilageFcstInfoService_2.0``).

One report = the ultra-short observation (``getUltraSrtNcst``: T1H, PTY) and the short-term
forecast (``getVilageFcst``: TMP, SKY, PTY, POP) for the grid point of the user's location, a
place named in the message, or the configured default. The two calls run concurrently; if one
fails the report is built from the other and says so, if both fail the first error is raised.
A forecast base that is due but not published yet ("03" NO_DATA) is retried once with the base
before it. Without a forecast the advice only describes the observation: it never says that no
rain is coming.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import SecretStr

from eco2.domain.chat import GeoPoint
from eco2.domain.errors import NoResultsError, NotConfiguredError
from eco2.domain.knowledge import WeatherReport
from eco2.infrastructure.integrations.http.client import HttpProvider
from eco2.infrastructure.integrations.http.datagokr import parse_items
from eco2.infrastructure.integrations.http.errors import ProviderError
from eco2.infrastructure.integrations.kma_grid import (
    KST,
    NamedPlace,
    find_place,
    forecast_base,
    latlon_to_grid,
    observation_base,
    previous_forecast_base,
)

PTY_NAMES = {
    0: "",
    1: "비",
    2: "비/눈",
    3: "눈",
    4: "소나기",
    5: "빗방울",
    6: "빗방울/눈날림",
    7: "눈날림",
}
SKY_NAMES = {1: "맑음", 3: "구름많음", 4: "흐림"}
OUTLOOK_HOURS = 12
FORECAST_ROWS = 300  # ~12 categories per hour: a little over a day of forecast


class ProviderNoDataError(ProviderError, NoResultsError):
    """The provider answered but had no data for the request."""


@dataclass(frozen=True, slots=True)
class _Conditions:
    temperature_c: float | None = None
    pty: int | None = None
    sky: int | None = None
    pop: int | None = None


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if abs(number) >= 900 else number  # KMA marks missing values as ±900 and beyond


def _int(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def parse_observation(items: list[dict[str, Any]]) -> _Conditions:
    """Read T1H and PTY from ``getUltraSrtNcst`` items."""
    values = {str(i.get("category")): i.get("obsrValue") for i in items}
    return _Conditions(temperature_c=_number(values.get("T1H")), pty=_int(values.get("PTY")))


def parse_forecast(items: list[dict[str, Any]], now: datetime) -> _Conditions:
    """Read the first slot at or after ``now`` (TMP, SKY, PTY) and the max POP of the outlook."""
    slots: dict[datetime, dict[str, Any]] = defaultdict(dict)
    for item in items:
        when = datetime.strptime(f"{item['fcstDate']}{item['fcstTime']}", "%Y%m%d%H%M")
        slots[when.replace(tzinfo=KST)][str(item["category"])] = item.get("fcstValue")
    start = now.astimezone(KST).replace(minute=0, second=0, microsecond=0)
    upcoming = sorted(t for t in slots if t >= start)
    if not upcoming:
        return _Conditions()
    first = slots[upcoming[0]]
    horizon = start + timedelta(hours=OUTLOOK_HOURS)
    pops = [p for t in upcoming if t <= horizon if (p := _int(slots[t].get("POP"))) is not None]
    return _Conditions(
        temperature_c=_number(first.get("TMP")),
        pty=_int(first.get("PTY")),
        sky=_int(first.get("SKY")),
        pop=max(pops) if pops else None,
    )


def _condition(obs: _Conditions, fc: _Conditions) -> str:
    if obs.pty:
        return PTY_NAMES.get(obs.pty, "강수")
    if fc.pty:
        return f"{SKY_NAMES.get(fc.sky or 0, '흐림')}, {PTY_NAMES.get(fc.pty, '강수')} 예보"
    if fc.sky in SKY_NAMES:
        return SKY_NAMES[fc.sky or 0]
    return "강수 없음" if obs.pty == 0 else "알 수 없음"


def _advice(obs: _Conditions, pop: int | None) -> str:
    if obs.pty:
        return "지금 비나 눈이 와요. 종이류·대형폐기물은 그친 뒤 내놓거나 젖지 않게 덮어 주세요."
    if pop is not None and pop >= 60:
        return (
            f"앞으로 {OUTLOOK_HOURS}시간 강수확률이 최고 {pop}%예요. 종이류·대형폐기물은 "
            "배출을 미루거나 비닐로 덮어 주세요."
        )
    if pop is not None and pop >= 30:
        return (
            f"앞으로 {OUTLOOK_HOURS}시간 강수확률이 최고 {pop}%예요. 젖으면 안 되는 "
            "품목은 덮어서 내놓으세요."
        )
    if pop is not None:
        return "당분간 비 소식이 없어 내놓기 좋은 날씨예요."
    if obs.pty == 0:
        # Only the observation is known: "no rain now" says nothing about the next hours.
        return "지금은 비나 눈이 오지 않아요. 예보를 받지 못해 앞으로 비가 올지는 알 수 없어요."
    return ""


def describe(observed: _Conditions | None, forecast: _Conditions | None) -> tuple[str, str]:
    """Return ``(condition, advice)`` in Korean for putting waste out.

    Args:
        observed: The current observation, ``None`` when it could not be had.
        forecast: The outlook, ``None`` when it could not be had; without its precipitation
            probability the advice never says that no rain is coming.

    Returns:
        The condition (e.g. "흐림, 비 예보") and the advice (may be empty).
    """
    obs, fc = observed or _Conditions(), forecast or _Conditions()
    advice = _advice(obs, fc.pop)
    if observed is None:
        advice = ("현재 관측값을 받지 못해 예보 기준이에요. " + advice).strip()
    return _condition(obs, fc), advice


class KmaWeather:
    """``WeatherPort`` backed by KMA ``getUltraSrtNcst`` and ``getVilageFcst``.

    Args:
        http: The KMA provider (base URL ``…/VilageFcstInfoService_2.0``).
        service_key: The data.go.kr key (decoded form); ``None`` → every call is not configured.
        default_location: Used when neither ``near`` nor a known place in the message is given.
        clock: Returns the current instant (aware); tests pin it.
        places: Gazetteer to look named places up in (default: the packaged one).
    """

    def __init__(
        self,
        http: HttpProvider,
        service_key: SecretStr | None,
        *,
        default_location: NamedPlace,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        places: tuple[NamedPlace, ...] | None = None,
    ) -> None:
        self._http = http
        self._key = service_key
        self._default = default_location
        self._clock = clock
        self._places = places

    def _locate(self, near: GeoPoint | None, text: str) -> tuple[str, float, float]:
        if near is not None:
            return "현재 위치", near.latitude, near.longitude
        place = find_place(text, self._places) or self._default
        return place.name, place.latitude, place.longitude

    async def _items(
        self, path: str, params: dict[str, str | int]
    ) -> list[dict[str, Any]] | ProviderError:
        try:
            return await self._http.get(path, lambda r: parse_items(r, "kma"), params=params)
        except ProviderError as exc:  # the other call may still give an answer
            return exc

    async def _forecast(
        self, common: dict[str, str | int], now: datetime
    ) -> tuple[list[dict[str, Any]] | ProviderError, tuple[str, str]]:
        """Fetch the latest forecast, or the one before when the latest is not published yet."""

        def at(base: tuple[str, str]) -> dict[str, str | int]:
            date, time = base
            return {**common, "numOfRows": FORECAST_ROWS, "base_date": date, "base_time": time}

        base = forecast_base(now)
        items = await self._items("/getVilageFcst", at(base))
        if items == []:  # "03" NO_DATA: the base is due (HH:10) but KMA publishes it late
            base = previous_forecast_base(*base)
            items = await self._items("/getVilageFcst", at(base))
        return items, base

    async def report(self, near: GeoPoint | None, text: str) -> WeatherReport:
        """Return current weather and a short outlook (see the module docstring).

        Raises:
            NotConfiguredError: No data.go.kr key.
            ProviderError: Both KMA calls failed, or neither had data.
        """
        if self._key is None:
            raise NotConfiguredError(
                "weather (KMA) is not configured: ECO2_DATA_GO_KR_API_KEY unset"
            )
        name, lat, lon = self._locate(near, text)
        nx, ny = latlon_to_grid(lat, lon)
        now = self._clock()
        common: dict[str, str | int] = {
            "serviceKey": self._key.get_secret_value(),
            "pageNo": 1,
            "dataType": "JSON",
            "nx": nx,
            "ny": ny,
        }
        obs_date, obs_time = observation_base(now)
        obs_items, (fc_items, (fc_date, fc_time)) = await asyncio.gather(
            self._items(
                "/getUltraSrtNcst",
                {**common, "numOfRows": 10, "base_date": obs_date, "base_time": obs_time},
            ),
            self._forecast(common, now),
        )
        if isinstance(obs_items, ProviderError) and isinstance(fc_items, ProviderError):
            raise obs_items
        observed = (
            parse_observation(obs_items) if isinstance(obs_items, list) and obs_items else None
        )
        forecast = (
            parse_forecast(fc_items, now) if isinstance(fc_items, list) and fc_items else None
        )
        if observed is None and forecast is None:
            raise ProviderNoDataError("kma", f"no observation or forecast for grid {nx},{ny}")
        condition, advice = describe(observed, forecast)
        temperature = observed.temperature_c if observed else None
        if temperature is None and forecast is not None:
            temperature = forecast.temperature_c
        stamp = f"{obs_date[:4]}-{obs_date[4:6]}-{obs_date[6:]} {obs_time[:2]}:00 KST"
        if observed is None:
            stamp = f"{fc_date[:4]}-{fc_date[4:6]}-{fc_date[6:]} {fc_time[:2]}:00 KST 예보"
        return WeatherReport(
            location_name=name,
            temperature_c=temperature,
            condition=condition,
            precipitation_probability=forecast.pop if forecast else None,
            observed_at=stamp,
            advice=advice,
        )
