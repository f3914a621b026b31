"""A local LangSmith-compatible stub: records the runs the SDK posts and patches.

It answers ``GET /info`` (so the SDK picks its JSON batch endpoint), ``POST /runs/batch``,
``POST /runs``, ``PATCH /runs/{id}`` and ``POST /runs/multipart`` (recorded raw).
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import serving


@dataclass
class LangSmithStub:
    """What the SDK sent, merged per run id (post, then patches)."""

    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    headers: list[dict[str, str]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def merge(self, run: dict[str, Any]) -> None:
        with self.lock:
            current = self.runs.setdefault(str(run["id"]), {})
            current.update({k: v for k, v in run.items() if v is not None})

    def roots(self) -> list[dict[str, Any]]:
        return [r for r in self.runs.values() if not r.get("parent_run_id")]

    def children(self, run_id: str) -> list[dict[str, Any]]:
        return [r for r in self.runs.values() if str(r.get("parent_run_id")) == run_id]


async def _json(request: Request) -> Any:
    body = await request.body()
    if request.headers.get("content-encoding") == "gzip":
        body = gzip.decompress(body)
    return json.loads(body) if body else None


def build_app(stub: LangSmithStub) -> Starlette:
    async def info(_: Request) -> Response:
        return JSONResponse(
            {
                "version": "stub",
                "batch_ingest_config": {
                    "use_multipart_endpoint": False,
                    "scale_up_qsize_trigger": 1000,
                    "scale_up_nthreads_limit": 1,
                    "scale_down_nempty_trigger": 4,
                    "size_limit": 100,
                    "size_limit_bytes": 20_971_520,
                },
            }
        )

    async def batch(request: Request) -> Response:
        stub.paths.append(request.url.path)
        stub.headers.append(dict(request.headers))
        body = await _json(request) or {}
        for run in [*body.get("post", []), *body.get("patch", [])]:
            stub.merge(run)
        return JSONResponse({})

    async def create(request: Request) -> Response:
        stub.paths.append(request.url.path)
        stub.headers.append(dict(request.headers))
        stub.merge(await _json(request))
        return JSONResponse({})

    async def patch(request: Request) -> Response:
        stub.paths.append(request.url.path)
        run = await _json(request)
        run["id"] = request.path_params["run_id"]
        stub.merge(run)
        return JSONResponse({})

    async def other(request: Request) -> Response:
        stub.paths.append(request.url.path)
        return JSONResponse({})

    return Starlette(
        routes=[
            Route("/info", info, methods=["GET"]),
            Route("/runs/batch", batch, methods=["POST"]),
            Route("/runs", create, methods=["POST"]),
            Route("/runs/{run_id}", patch, methods=["PATCH"]),
            Route("/{path:path}", other, methods=["GET", "POST", "PATCH"]),
        ]
    )


@contextmanager
def running_langsmith_stub() -> Iterator[LangSmithStub]:
    """Serve the stub on a free loopback port for the ``with`` block."""
    stub = LangSmithStub()
    with serving(build_app(stub), "LangSmith stub") as url:
        stub.url = url
        yield stub
