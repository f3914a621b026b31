#!/usr/bin/env python3
"""Serve canned Kakao Local keyword-search answers on loopback, for the README's manual check.

    .venv/bin/python scripts/fake_kakao_server.py --port 8765 &
    ECO2_KAKAO_API_KEY=local-check ECO2_KAKAO_BASE_URL=http://127.0.0.1:8765 \\
        .venv/bin/eco2 chat --json "강남역 근처 제로웨이스트샵 찾아줘"

The answer lists the places below ("[로컬] …"), which no real Kakao search returns. Standard
library only; binds 127.0.0.1; every request is printed to stderr (without the key).
"""

from __future__ import annotations

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ANCHORS = {"강남역": ("127.027610", "37.497950")}
PLACES = [
    ("[로컬] 알맹상점 테스트점", "서울 강남구 테헤란로 1", "02-000-0001"),
    ("[로컬] 제로웨이스트 리필스테이션", "서울 강남구 강남대로 2", "02-000-0002"),
    ("[로컬] 지구샵 테스트점", "서울 강남구 역삼로 3", "02-000-0003"),
]


def document(name: str, address: str, phone: str, distance: int | None) -> dict[str, str]:
    doc = {
        "id": str(sum(map(ord, name))),
        "place_name": name,
        "category_name": "가정,생활 > 생활용품 > 제로웨이스트샵",
        "category_group_code": "",
        "category_group_name": "",
        "phone": phone,
        "address_name": address,
        "road_address_name": address,
        "x": "127.0276",
        "y": "37.4979",
        "place_url": "http://127.0.0.1/place",
    }
    if distance is not None:
        doc["distance"] = str(distance)
    return doc


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        url = urlsplit(self.path)
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        sys.stderr.write(f"{url.path} {params}\n")
        if url.path != "/v2/local/search/keyword.json":
            return self.reply(404, {"errorType": "NotFound", "message": url.path})
        if not self.headers.get("Authorization", "").startswith("KakaoAK "):
            return self.reply(401, {"errorType": "AccessDeniedError", "message": "no KakaoAK"})
        query = params.get("query", "")
        if query in ANCHORS:
            x, y = ANCHORS[query]
            anchor = document(query, "서울 강남구 강남대로 396", "", None) | {"x": x, "y": y}
            return self.reply(200, page([anchor]))
        near = "x" in params and "y" in params
        docs = [
            document(n, a, p, 120 * (i + 1) if near else None) for i, (n, a, p) in enumerate(PLACES)
        ]
        return self.reply(200, page(docs))

    def reply(self, status: int, body: object) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        return  # requests are printed above, without headers


def page(docs: list[dict[str, str]]) -> dict[str, object]:
    meta = {"total_count": len(docs), "pageable_count": len(docs), "is_end": True}
    return {"meta": meta, "documents": docs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"fake Kakao Local on http://127.0.0.1:{args.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
