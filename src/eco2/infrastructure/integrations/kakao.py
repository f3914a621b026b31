"""``LocationPort`` over Kakao Local keyword search (``/v2/local/search/keyword.json``).

"강남역 근처 제로웨이스트샵 찾아줘": the words before a "near" marker (근처, 주변, …) name the
anchor, found with a first keyword search; the rest, minus request words, is the query searched
around it. Words pointing at the user ("내 주변", "이 근처", "우리 집 근처") are no anchor.
Without an anchor the search runs around the user's coordinates, or nationwide.
Coordinates and distances come back as strings; ``distance`` only when ``x``/``y`` were sent.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from pydantic import SecretStr

from eco2.domain.chat import GeoPoint
from eco2.domain.errors import NotConfiguredError
from eco2.domain.knowledge import Place
from eco2.infrastructure.integrations.http.client import HttpProvider, json_body
from eco2.infrastructure.integrations.http.errors import MalformedResponseError

KEYWORD_PATH = "/v2/local/search/keyword.json"
MAX_RADIUS_M = 20_000
MAX_SIZE = 15
MAX_QUERY_CHARS = 100
_NEAR = re.compile(
    r"^(?P<anchor>.*?)\s*(?:근처|주변|부근|인근|근방|가까이|쪽)(?:에|에서|의)?\s+(?P<rest>.+)$"
)
_REQUEST_WORDS = re.compile(
    r"(찾아\s*줘|찾아\s*주세요|알려\s*줘|알려\s*주세요|추천해\s*줘|추천해\s*주세요|어디\s*있어|"
    r"어디야|어디에|어디|있나요|있어|있는|좀|가까운|검색해\s*줘|보여\s*줘|[?!.,~])"
)
_PARTICLE = re.compile(r"(에서|에|의)$")
# Words that point at the user rather than name a place ("내 주변", "이 근처", "우리 집 근처",
# "현재 위치 주변"): searching Kakao for them matches some unrelated place, so they mean "near
# the user's coordinates". A possessive or demonstrative before the last word ("우리 회사")
# makes it the user's own place too, which no keyword search can find.
_DEICTIC = frozenset(
    {
        "내", "나", "제", "저", "저희", "우리", "이", "그", "요", "여기", "여기서", "거기",
        "저기", "이곳", "이쪽", "요기", "집", "우리집", "내집", "저희집", "집앞", "위치",
        "현재", "현위치", "현재위치", "내위치", "제위치", "지금", "동네", "우리동네",
    }
)  # fmt: skip
_OWNERS = frozenset({"내", "나의", "제", "저의", "저희", "우리", "이", "그", "요"})


def _anchor(words: list[str]) -> str | None:
    """The place named by the words before the "near" marker, or ``None`` for "near me".

    Deictic words after a place do not replace it ("서울역 이 근처" is near 서울역).
    """
    bare = [_PARTICLE.sub("", word) for word in words]
    while bare and bare[-1] in _DEICTIC:
        bare.pop()
    if not bare:
        return None
    before = len(bare) - 2  # the word before the place: "나의"/"우리" make it the user's own
    if before >= 0 and (words[before] in _OWNERS or bare[before] in _OWNERS):
        return None
    return bare[-1] or None


def split_anchor(text: str) -> tuple[str | None, str]:
    """Split a message into ``(anchor place, query)``; the anchor is ``None`` when none is named.

    Words pointing at the user ("내 주변", "이 근처", "현재 위치 주변") name no anchor: the
    search then runs around the user's coordinates.

    Example:
        ``split_anchor("강남역 근처 제로웨이스트샵 찾아줘") == ("강남역", "제로웨이스트샵")``
        ``split_anchor("내 주변 제로웨이스트샵 알려줘") == (None, "제로웨이스트샵")``
    """
    text = " ".join(text.split())
    anchor: str | None = None
    match = _NEAR.match(text)
    if match:
        anchor = _anchor(match["anchor"].split())
        text = match["rest"]
    query = " ".join(_REQUEST_WORDS.sub(" ", text).split())
    return anchor, query[:MAX_QUERY_CHARS]


def _distance(value: Any) -> int | None:
    if value in (None, ""):
        return None
    return round(float(value))


def parse_places(response: httpx.Response) -> list[Place]:
    """Parse a keyword-search response into places.

    Raises:
        MalformedResponseError: The body is not the documented ``{"meta", "documents"}`` shape.
    """
    body = json_body(response, "kakao")
    if not isinstance(body, dict) or not isinstance(body.get("documents"), list):
        raise MalformedResponseError("kakao", "no documents list in the response")
    return [
        Place(
            name=str(doc["place_name"]),
            address=str(doc.get("road_address_name") or doc.get("address_name") or ""),
            category=str(doc.get("category_name") or ""),
            phone=str(doc.get("phone") or ""),
            distance_m=_distance(doc.get("distance")),
            url=str(doc.get("place_url") or ""),
        )
        for doc in body["documents"]
    ]


def _anchor_point(response: httpx.Response) -> GeoPoint | None:
    body = json_body(response, "kakao")
    documents = body.get("documents") if isinstance(body, dict) else None
    if not isinstance(documents, list):
        raise MalformedResponseError("kakao", "no documents list in the response")
    if not documents:
        return None
    return GeoPoint(latitude=float(documents[0]["y"]), longitude=float(documents[0]["x"]))


class KakaoLocal:
    """``LocationPort`` backed by Kakao Local keyword search.

    Args:
        http: The Kakao provider (base URL ``https://dapi.kakao.com``).
        api_key: The REST API key; ``None`` → every call is not configured.
        radius_m: Search radius around the anchor or the user, 0–20000 m.
        size: Places per answer, 1–15.

    Raises:
        ValueError: ``radius_m`` or ``size`` is outside Kakao's limits.
    """

    def __init__(
        self,
        http: HttpProvider,
        api_key: SecretStr | None,
        *,
        radius_m: int = 2_000,
        size: int = MAX_SIZE,
    ) -> None:
        if not 0 <= radius_m <= MAX_RADIUS_M:
            raise ValueError(f"radius_m must be within 0..{MAX_RADIUS_M}, got {radius_m}")
        if not 1 <= size <= MAX_SIZE:
            raise ValueError(f"size must be within 1..{MAX_SIZE}, got {size}")
        self._http = http
        self._key = api_key
        self._radius = radius_m
        self._size = size

    def _headers(self) -> dict[str, str]:
        if self._key is None:
            raise NotConfiguredError("place search (Kakao Local) is not configured")
        return {"Authorization": f"KakaoAK {self._key.get_secret_value()}"}

    async def _locate(self, anchor: str) -> GeoPoint | None:
        params: dict[str, str | int] = {"query": anchor, "size": 1, "page": 1}
        return await self._http.get(
            KEYWORD_PATH, _anchor_point, params=params, headers=self._headers()
        )

    async def search(self, text: str, near: GeoPoint | None) -> list[Place]:
        """Return places for ``text`` around a place it names, else around ``near``.

        Raises:
            NotConfiguredError: No Kakao key.
            ProviderError: Kakao failed (typed: auth, rate limit, unavailable, malformed).
        """
        headers = self._headers()
        anchor, query = split_anchor(text)
        if anchor is not None:
            located = await self._locate(anchor)
            if located is None:  # unknown anchor: let Kakao match it as part of the query
                query = f"{anchor} {query}".strip()
            near = located or near
        params: dict[str, str | int] = {
            "query": query or text[:MAX_QUERY_CHARS],
            "size": self._size,
            "page": 1,
        }
        if near is not None:
            params |= {
                "x": f"{near.longitude:.6f}",
                "y": f"{near.latitude:.6f}",
                "radius": self._radius,
                "sort": "distance",
            }
        return await self._http.get(KEYWORD_PATH, parse_places, params=params, headers=headers)
