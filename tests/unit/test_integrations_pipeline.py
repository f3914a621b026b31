"""The HTTP adapters inside the real pipeline: answers and node statuses; the README's script."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from eco2.bootstrap import Application
from eco2.domain.chat import ChatJob, ChatRequest
from eco2.domain.events import EventType
from eco2.infrastructure.integrations.config import IntegrationSettings
from eco2.infrastructure.integrations.factory import build_http_integrations
from tests.fakes.providers.http_payloads import KEY
from tests.fakes.providers.kakao_server import FakeKakao
from tests.fakes.server import free_port, serving

QUESTION = "강남역 근처 제로웨이스트샵 찾아줘"
SCRIPT = Path(__file__).parents[2] / "scripts" / "fake_kakao_server.py"


@pytest.fixture
def fake() -> FakeKakao:
    return FakeKakao(key=KEY)


@pytest.fixture
async def adapters(fake: FakeKakao) -> AsyncIterator[dict[str, object]]:
    with serving(fake.app(), "fake kakao") as url:
        built = build_http_integrations(
            IntegrationSettings.model_validate(
                {
                    "ECO2_KAKAO_API_KEY": KEY,
                    "ECO2_KAKAO_BASE_URL": url,
                    "ECO2_HTTP_RETRIES": 0,
                    "ECO2_HTTP_READ_TIMEOUT_S": 0.2,
                }
            )
        )
        yield built
        await built["aclose"]()  # type: ignore[operator]


async def ask(app: Application, message: str) -> dict[str, Any]:
    job = ChatJob(ChatRequest(message))
    await app.process_chat.execute(job)
    events = await app.events.read(job.job_id, None, count=10_000)
    assert events[-1].type is EventType.DONE, events[-1].payload
    return events[-1].payload


def location_context(result: dict[str, Any]) -> dict[str, Any]:
    nodes = {n["name"]: n for n in result["nodes"]}
    assert "location" in nodes, nodes
    return nodes["location"]


async def test_places_from_the_server_reach_the_answer(
    make_app: Callable[..., Application], adapters: dict[str, object]
) -> None:
    result = await ask(make_app(location=adapters["location"]), QUESTION)
    assert "location" in result["intents"]
    assert "알맹상점" in result["answer"]
    assert location_context(result)["status"] == "ok"


@pytest.mark.parametrize(
    ("setup", "status"),
    [
        (lambda f: setattr(f, "places", []), "empty"),
        (lambda f: setattr(f, "key", "another-key"), "failed"),
        (lambda f: setattr(f, "status", 500), "failed"),
        (lambda f: setattr(f, "delay_s", 0.5), "failed"),
    ],
)
async def test_degraded_provider_gives_the_right_status(
    make_app: Callable[..., Application],
    adapters: dict[str, object],
    fake: FakeKakao,
    setup: Callable[[FakeKakao], None],
    status: str,
) -> None:
    setup(fake)
    result = await ask(make_app(location=adapters["location"]), QUESTION)
    assert location_context(result)["status"] == status
    assert KEY not in str(result)


@pytest.fixture
def script_server() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        proc.stdout.readline()  # the "listening" line
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close() if proc.stdout else None


async def test_readme_script_serves_the_manual_check(
    make_app: Callable[..., Application], script_server: str
) -> None:
    built = build_http_integrations(
        IntegrationSettings.model_validate(
            {"ECO2_KAKAO_API_KEY": "local-check", "ECO2_KAKAO_BASE_URL": script_server}
        )
    )
    try:
        result = await ask(make_app(location=built["location"]), QUESTION)
    finally:
        await built["aclose"]()  # type: ignore[operator]
    assert "[로컬] 알맹상점 테스트점" in result["answer"]
