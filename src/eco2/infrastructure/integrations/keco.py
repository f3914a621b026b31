"""``CollectionPointPort`` over KECO's collection-box dataset on odcloud (``api.odcloud.kr``).

Rows: ``{"순번", "상호명", "수거장소(주소)", "수거방법", "수거종류", "장소구분", "수거비용"}`` in
``data``, paged with ``page``/``perPage`` (≤ 1000) and filtered server-side with
``cond[수거장소(주소)::LIKE]`` / ``cond[상호명::LIKE]``. The district written in the message filters
the address; the item kind it names (건전지, 형광등, 의약품, …) filters ``수거종류`` here, since
odcloud cannot. The dataset has no coordinates, so ``near`` alone cannot narrow the search.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import SecretStr

from eco2.domain.chat import GeoPoint
from eco2.domain.errors import NotConfiguredError
from eco2.domain.knowledge import CollectionPoint
from eco2.infrastructure.integrations.http.client import HttpProvider, json_body
from eco2.infrastructure.integrations.http.errors import (
    MalformedResponseError,
    ProviderAuthError,
    ProviderErrorCode,
)
from eco2.infrastructure.integrations.mois import find_district

MAX_PER_PAGE = 1000
ADDRESS = "수거장소(주소)"
NAME = "상호명"
# Words in a message → the word odcloud's 수거종류 uses for that kind.
KIND_WORDS: dict[str, str] = {
    "건전지": "건전지",
    "배터리": "건전지",
    "형광등": "형광등",
    "전구": "형광등",
    "의약품": "의약품",
    "알약": "의약품",
    "물약": "의약품",
    "폐식용유": "식용유",
    "식용유": "식용유",
    "소형가전": "소형가전",
    "소형 가전": "소형가전",
    "헌옷": "의류",
    "헌 옷": "의류",
    "의류": "의류",
    "아이스팩": "아이스팩",
    "커피": "커피",
    "종이팩": "종이팩",
    "우유팩": "종이팩",
    "휴대폰": "휴대폰",
    "핸드폰": "휴대폰",
}


def find_kind(text: str) -> str | None:
    """Return the 수거종류 word for the item kind ``text`` names (longest keyword wins)."""
    hits = [word for word in KIND_WORDS if word in text]
    return KIND_WORDS[max(hits, key=len)] if hits else None


def parse_points(response: httpx.Response) -> list[CollectionPoint]:
    """Parse an odcloud page into collection points.

    Raises:
        ProviderAuthError: odcloud's ``code`` says the key is invalid (-401).
        ProviderErrorCode: Another negative odcloud ``code``.
        MalformedResponseError: No ``data`` list.
    """
    body = json_body(response, "keco")
    if not isinstance(body, dict):
        raise MalformedResponseError("keco", "top level is not an object")
    if "data" not in body and isinstance(body.get("code"), int) and body["code"] < 0:
        message = str(body.get("msg", ""))[:120]
        if body["code"] == -401:
            raise ProviderAuthError("keco", f"error code -401: {message}")
        raise ProviderErrorCode("keco", str(body["code"]), message)
    rows = body.get("data")
    if not isinstance(rows, list):
        raise MalformedResponseError("keco", "no data list in the response")
    return [_point(row) for row in rows]


def _point(row: dict[str, Any]) -> CollectionPoint:
    def field(key: str) -> str:
        return str(row.get(key) or "").strip()

    method = " · ".join(
        part
        for part in (
            field("수거방법"),
            field("장소구분"),
            f"비용 {field('수거비용')}" if field("수거비용") else "",
        )
        if part
    )
    return CollectionPoint(
        name=field(NAME), address=field(ADDRESS), kinds=field("수거종류"), method=method
    )


class KecoCollectionPoints:
    """``CollectionPointPort`` backed by the KECO odcloud collection-box dataset.

    Args:
        http: The odcloud provider (base URL ``https://api.odcloud.kr/api/15106385/v1``).
        service_key: The odcloud key; ``None`` → every call is not configured.
        dataset_path: Path of the dataset under the base URL (``/uddi:…``).
        per_page: Rows fetched per call (1–1000); kind filtering happens on these rows.
        limit: Most points returned.

    Raises:
        ValueError: ``per_page`` is outside 1–1000.
    """

    def __init__(
        self,
        http: HttpProvider,
        service_key: SecretStr | None,
        *,
        dataset_path: str,
        per_page: int = 200,
        limit: int = 10,
    ) -> None:
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be within 1..{MAX_PER_PAGE}, got {per_page}")
        self._http = http
        self._key = service_key
        self._path = "/" + dataset_path.strip("/")
        self._per_page = per_page
        self._limit = limit

    async def fetch(
        self, *, address: str | None = None, name: str | None = None, page: int = 1
    ) -> list[CollectionPoint]:
        """Fetch one page, filtered server-side by address and/or place name.

        Raises:
            NotConfiguredError: No odcloud key.
            ProviderError: odcloud failed.
        """
        if self._key is None:
            raise NotConfiguredError("collection points (KECO open data) are not configured")
        params: dict[str, str | int] = {
            "serviceKey": self._key.get_secret_value(),
            "page": max(1, page),
            "perPage": self._per_page,
            "returnType": "JSON",
        }
        if address:
            params[f"cond[{ADDRESS}::LIKE]"] = address
        if name:
            params[f"cond[{NAME}::LIKE]"] = name
        return await self._http.get(self._path, parse_points, params=params)

    async def find(self, text: str, near: GeoPoint | None) -> list[CollectionPoint]:
        """Return collection points in the district ``text`` names that take the kind it names.

        Raises:
            NotConfiguredError: No odcloud key.
            ProviderError: odcloud failed.
        """
        points = await self.fetch(address=find_district(text))
        kind = find_kind(text)
        if kind is not None:
            points = [p for p in points if kind in p.kinds or kind in p.name]
        return points[: self._limit]
