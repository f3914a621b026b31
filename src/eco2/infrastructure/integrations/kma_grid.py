"""KMA grid, base times and a small gazetteer: the pure parts of the weather adapter.

The grid is KMA's 5 km Lambert conformal conic projection (earth radius 6371.00877 km, standard
parallels 30°N and 60°N, origin 38°N 126°E at grid point (43, 136)), as in KMA's published
conversion code. Base times are computed in KST (UTC+9, no daylight saving) from an aware or UTC
instant, so the machine's timezone never matters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from importlib.resources import files

import yaml

KST = timezone(timedelta(hours=9), "KST")

_RE_KM = 6371.00877
_GRID_KM = 5.0
_SLAT1, _SLAT2 = math.radians(30.0), math.radians(60.0)
_OLON, _OLAT = math.radians(126.0), math.radians(38.0)
_XO, _YO = 43.0, 136.0

FORECAST_BASE_HOURS = (2, 5, 8, 11, 14, 17, 20, 23)
OBSERVATION_LAG = timedelta(minutes=40)  # HH00 observations are served from about HH:40
FORECAST_LAG = timedelta(minutes=10)  # a forecast is served about 10 minutes after its base time
GAZETTEER_FILE = "kma_places.yaml"


def latlon_to_grid(latitude: float, longitude: float) -> tuple[int, int]:
    """Convert WGS84 latitude/longitude to the KMA forecast grid ``(nx, ny)``.

    Args:
        latitude: Degrees north.
        longitude: Degrees east.

    Returns:
        The grid point, e.g. ``(60, 127)`` for central Seoul.
    """
    re_ = _RE_KM / _GRID_KM
    sn = math.log(math.cos(_SLAT1) / math.cos(_SLAT2)) / math.log(
        math.tan(math.pi / 4 + _SLAT2 / 2) / math.tan(math.pi / 4 + _SLAT1 / 2)
    )
    sf = math.tan(math.pi / 4 + _SLAT1 / 2) ** sn * math.cos(_SLAT1) / sn
    ro = re_ * sf / math.tan(math.pi / 4 + _OLAT / 2) ** sn
    ra = re_ * sf / math.tan(math.pi / 4 + math.radians(latitude) / 2) ** sn
    theta = math.radians(longitude) - _OLON
    theta = (theta + math.pi) % (2 * math.pi) - math.pi
    theta *= sn
    nx = math.floor(ra * math.sin(theta) + _XO + 0.5)
    ny = math.floor(ro - ra * math.cos(theta) + _YO + 0.5)
    return nx, ny


def _kst(now: datetime) -> datetime:
    if now.tzinfo is None:  # naive instants are taken as UTC, never as local time
        now = now.replace(tzinfo=UTC)
    return now.astimezone(KST)


def observation_base(now: datetime) -> tuple[str, str]:
    """Return ``(base_date, base_time)`` of the latest served ultra-short observation.

    Args:
        now: The current instant (aware; naive means UTC).

    Returns:
        ``("YYYYMMDD", "HH00")`` in KST: this hour once it is served, else the previous hour.
    """
    base = (_kst(now) - OBSERVATION_LAG).replace(minute=0, second=0, microsecond=0)
    return base.strftime("%Y%m%d"), base.strftime("%H00")


def forecast_base(now: datetime) -> tuple[str, str]:
    """Return ``(base_date, base_time)`` of the latest served short-term forecast.

    Args:
        now: The current instant (aware; naive means UTC).

    Returns:
        ``("YYYYMMDD", "HH00")`` in KST for the latest of 02, 05, …, 23 o'clock already served
        (the previous day's 2300 before 02:10).
    """
    served = _kst(now) - FORECAST_LAG
    hours = [h for h in FORECAST_BASE_HOURS if h <= served.hour]
    if hours:
        base = served.replace(hour=hours[-1], minute=0, second=0, microsecond=0)
    else:
        base = (served - timedelta(days=1)).replace(hour=23, minute=0, second=0, microsecond=0)
    return base.strftime("%Y%m%d"), base.strftime("%H00")


def previous_forecast_base(base_date: str, base_time: str) -> tuple[str, str]:
    """Return the forecast base before ``(base_date, base_time)`` (three hours earlier).

    Used when the latest base is due but not published yet (KMA answers "03" NO_DATA for a while
    after HH:10). Across midnight the date changes: 0200 follows the previous day's 2300.

    Args:
        base_date: ``"YYYYMMDD"`` in KST.
        base_time: One of the ``"HH00"`` forecast base times (0200, 0500, …, 2300).

    Returns:
        ``("YYYYMMDD", "HH00")`` of the previous base.
    """
    base = datetime.strptime(base_date + base_time, "%Y%m%d%H%M")
    hours = [h for h in FORECAST_BASE_HOURS if h < base.hour]
    if hours:
        earlier = base.replace(hour=hours[-1])
    else:
        earlier = (base - timedelta(days=1)).replace(hour=FORECAST_BASE_HOURS[-1])
    return earlier.strftime("%Y%m%d"), earlier.strftime("%H00")


@dataclass(frozen=True, slots=True)
class NamedPlace:
    """A gazetteer entry: a well-known place and its coordinates."""

    name: str
    latitude: float
    longitude: float
    aliases: tuple[str, ...] = ()


@cache
def load_gazetteer() -> tuple[NamedPlace, ...]:
    """Return the packaged gazetteer of major Seoul and Korean places."""
    text = files(__package__).joinpath(GAZETTEER_FILE).read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    return tuple(
        NamedPlace(str(p["name"]), float(p["lat"]), float(p["lon"]), tuple(p.get("aliases", ())))
        for p in raw["places"]
    )


def find_place(text: str, places: tuple[NamedPlace, ...] | None = None) -> NamedPlace | None:
    """Return the place named in ``text`` (the longest name or alias found), if any."""
    best: tuple[int, NamedPlace] | None = None
    for place in places if places is not None else load_gazetteer():
        for name in (place.name, *place.aliases):
            if name in text and (best is None or len(name) > best[0]):
                best = (len(name), place)
    return best[1] if best else None
