"""The web page in real headless Chromium against a running ``eco2 serve``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.server import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed (scripts/ensure-system-deps.sh installs it)")
        pytest.skip("chromium is not installed; run scripts/ensure-system-deps.sh")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ECO2_", "OPENAI_"))}
    env["ECO2_OFFLINE_TTFT_S"] = "0"
    env["ECO2_OFFLINE_TOKENS_PER_S"] = "20"  # an answer (~60 tokens) takes about 3 s
    env["ECO2_SSE_MAX_CONNECTION_S"] = "1"  # the server drops the stream every second
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("eco2")), "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(
                f"eco2 serve did not start: {proc.stderr.read() if proc.stderr else ''}"
            )
        time.sleep(0.2)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_chat_streams_the_answer_and_draws_the_timeline_and_resumes(server: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            page = browser.new_page()
            page.goto(server)
            page.fill("#message", "페트병 어떻게 버려?")
            page.click("#send")
            # The server drops the stream mid-answer; EventSource resumes with Last-Event-ID.
            page.wait_for_selector("#meta[data-state=done]", timeout=60_000)
            assert page.get_attribute("#meta", "data-consistent") == "true"
            assert page.evaluate("window.eco2Connections") >= 2
            assert "투명 페트병" in page.inner_text("#answer")
            rows = page.eval_on_selector_all(
                "#timeline .row", "rows => rows.map(r => [r.dataset.node, r.dataset.status])"
            )
            assert ["intent", "ok"] in rows and ["waste_rag", "ok"] in rows
            assert ["answer", "ok"] in rows and ["weather", "not_configured"] in rows
            first_answer = page.inner_text("#answer")
            # The next question: the first turn moves up into the conversation.
            page.fill("#message", "이코 소개해줘")
            page.click("#send")
            page.wait_for_selector("#meta[data-state=done]", timeout=60_000)
            assert page.input_value("#message") == ""  # accepted: cleared for the next one
            turns = page.eval_on_selector_all(
                "#history .turn",
                "turns => turns.map(t => [t.querySelector('.q').textContent,"
                " t.querySelector('.a').textContent])",
            )
            assert turns == [["페트병 어떻게 버려?", first_answer]]
            assert page.inner_text("#question") == "이코 소개해줘"
            assert "투명 페트병" not in page.inner_text("#answer")
        finally:
            browser.close()


def test_the_page_resumes_itself_after_a_refused_reconnect_and_reports_a_refused_post(
    server: str,
) -> None:
    from playwright.sync_api import Route, sync_playwright

    streams = 0

    def refuse_the_second_stream(route: Route) -> None:
        nonlocal streams
        streams += 1
        if streams == 2:  # EventSource gives up for good on a non-200 reconnect
            route.fulfill(status=503, body="rolling out")
        else:
            route.continue_()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            page = browser.new_page()
            page.route("**/events*", refuse_the_second_stream)
            page.goto(server)
            page.fill("#message", "페트병 어떻게 버려?")
            page.click("#send")
            page.wait_for_selector("#meta[data-state=done]", timeout=60_000)
            assert page.get_attribute("#meta", "data-consistent") == "true"  # nothing lost
            assert streams >= 3
            page.unroute("**/events*")

            page.route(
                "**/api/v1/chat",
                lambda route: route.fulfill(status=502, body="<html>bad gateway</html>"),
            )
            page.fill("#message", "안녕하세요")
            page.click("#send")
            page.wait_for_selector("#meta[data-state=refused]", timeout=10_000)
            assert "502" in page.inner_text("#meta")
            assert page.is_enabled("#send")
            assert page.input_value("#message") == "안녕하세요"  # kept, to send again
            assert page.inner_text("#question") == ""
        finally:
            browser.close()


def test_a_node_cut_short_by_the_jobs_error_is_shown_unfinished(server: str) -> None:
    from playwright.sync_api import Route, sync_playwright

    frames = [
        ("1-0", "progress", {"seq": 1, "node": "answer", "phase": "started", "at_ms": 5}),
        ("2-0", "error", {"seq": 2, "code": "timeout", "message": "no answer within 1 s"}),
    ]
    body = "".join(
        f"id: {i}\nevent: {kind}\ndata: {json.dumps(data)}\n\n" for i, kind, data in frames
    )

    def a_job_that_times_out(route: Route) -> None:
        route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=body)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            page = browser.new_page()
            page.route("**/events*", a_job_that_times_out)
            page.goto(server)
            page.fill("#message", "안녕하세요")
            page.click("#send")
            page.wait_for_selector("#meta[data-state=error]", timeout=30_000)
            rows = page.eval_on_selector_all(
                "#timeline .row", "rows => rows.map(r => [r.dataset.node, r.dataset.status])"
            )
            assert rows == [["answer", "unfinished"]]
        finally:
            browser.close()


def test_eco2_trace_draws_the_waterfall_of_a_served_job(server: str) -> None:
    accepted = httpx.post(f"{server}/api/v1/chat", json={"message": "페트병 어떻게 버려?"}).json()
    deadline = time.monotonic() + 60
    while httpx.get(f"{server}/api/v1/chat/{accepted['job_id']}").json()["status"] != "done":
        assert time.monotonic() < deadline, "the job did not finish"
        time.sleep(0.2)
    eco2 = str(Path(sys.executable).with_name("eco2"))
    done = subprocess.run(
        [eco2, "trace", accepted["job_id"], "--url", server],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    out = done.stdout.decode()
    assert f"job {accepted['job_id']}" in out and "status: done" in out
    assert "waste_rag" in out and "slowest" in out
    missing = subprocess.run(
        [eco2, "trace", "no-such-job", "--url", server],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert missing.returncode == 1 and b"no job no-such-job" in missing.stderr
