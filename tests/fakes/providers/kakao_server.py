"""A local Kakao Local server (Starlette) answering ``/v2/local/search/keyword.json``.

Anchor queries (a known place name) return that place with coordinates; other queries return
``places`` with distances when ``x``/``y`` were sent. ``delay_s`` makes every answer slow and
``status`` forces an error status, so timeouts and failures can be tested over real sockets.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.providers.http_payloads import kakao_document, kakao_page

ANCHORS = {"강남역": ("127.027610", "37.497950")}


@dataclass
class FakeKakao:
    """Server state: canned places, behaviour switches and the requests received."""

    key: str
    places: list[str] = field(default_factory=lambda: ["알맹상점", "지구샵 제로웨이스트홈"])
    delay_s: float = 0.0
    status: int = 200
    unknown: set[str] = field(default_factory=set)  # queries with no match at all
    requests: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> Starlette:
        """The ASGI app."""

        async def keyword(request: Request) -> JSONResponse:
            params = dict(request.query_params)
            self.requests.append(params)
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            if request.headers.get("authorization") != f"KakaoAK {self.key}":
                return JSONResponse(
                    {"errorType": "AccessDeniedError", "message": "wrong appKey"}, 401
                )
            if self.status != 200:
                return JSONResponse({"errorType": "Error", "message": "forced"}, self.status)
            query = params.get("query", "")
            if query in self.unknown:
                return JSONResponse(kakao_page())
            if query in ANCHORS:
                x, y = ANCHORS[query]
                return JSONResponse(kakao_page(kakao_document(query, distance=None, x=x, y=y)))
            with_distance = "x" in params and "y" in params
            docs = [
                kakao_document(name, distance=str(150 * (i + 1)) if with_distance else None)
                for i, name in enumerate(self.places)
            ]
            return JSONResponse(kakao_page(*docs))

        return Starlette(routes=[Route("/v2/local/search/keyword.json", keyword)])
