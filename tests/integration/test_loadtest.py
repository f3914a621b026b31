"""``eco2 loadtest`` end to end: short runs against embedded and distributed mode.

Behaviour only (jobs completed, summary fields, verdicts, exit codes); no wall-clock
assertions. SLO verdicts are made deterministic with SLO files whose thresholds are either
unreachable by any real run (``impossible``) or generous enough for any machine (``lenient``).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.fakes.server import free_port
from tests.integration.distributed import (
    cleanup_distributed,
    require_distributed_services,
    running_api,
    settings_from,
    unique_env,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ECO2 = str(Path(sys.executable).with_name("eco2"))
NO_LATENCY = {"ECO2_OFFLINE_TTFT_S": "0", "ECO2_OFFLINE_TOKENS_PER_S": "0"}


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ECO2_", "OPENAI_"))}
    return {**env, **NO_LATENCY, **extra}


def slo_file(tmp_path: Path, name: str, scale: float) -> Path:
    """deploy/slo.yaml with every threshold set to ``scale`` × (1, 2, 3) seconds."""
    raw = yaml.safe_load((ROOT / "deploy" / "slo.yaml").read_text(encoding="utf-8"))
    for slo in raw["slos"]:
        slo["thresholds"] = {"p50": scale, "p95": 2 * scale, "p99": 3 * scale}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def loadtest(*args: str, report: Path) -> tuple[int, dict[str, Any], str]:
    done = subprocess.run(
        [ECO2, "loadtest", "--think", "0.2", "--report", str(report), *args],
        capture_output=True,
        timeout=300,
        env=clean_env(),
        check=False,
    )
    out = done.stdout.decode() + done.stderr.decode()
    summary_path = report / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return done.returncode, summary, out


def wait_healthy(url: str, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + 180
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if (proc is not None and proc.poll() is not None) or time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not become healthy")
        time.sleep(0.2)


def check_summary(summary: dict[str, Any], intents: list[str]) -> None:
    assert summary["jobs"]["total"] >= 1
    assert summary["jobs"]["completed"] == summary["jobs"]["total"], summary["errors_sample"]
    assert summary["jobs"]["error_rate"] == 0
    assert set(summary["per_intent"]) == set(intents)
    assert {v["name"] for v in summary["slo"]} == {
        "intent_classification",
        "rag_search",
        "full_response_waste",
        "full_response_general",
        "token_emission",
    }
    for v in summary["slo"]:
        assert v["status"] in ("pass", "fail", "insufficient", "no_data", "skipped")
        assert v["source"] in ("client", "server")
    assert summary["timeline"] and "streams" in summary["timeline"][0]
    done = [s for s in summary["per_intent"].values() if s["completed"]]
    assert done and all(s["e2e_s"]["p50"] is not None for s in done)
    assert all(s["ttft_s"]["p50"] is not None for s in done)


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [ECO2, "serve", "--port", str(port)],
            env=clean_env(),
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_embedded_run_writes_summary_and_report_and_exit_codes(
    embedded: str, tmp_path: Path
) -> None:
    lenient = slo_file(tmp_path, "lenient", 100.0)
    code, summary, out = loadtest(
        # A seed whose first draws cover every intent: no SLO is left without data.
        "--url", embedded, "--users", "3", "--duration", "3", "--ramp", "1", "--min-samples", "1",
        "--seed", "4", "--slo", str(lenient), "--report", str(tmp_path / "ok"),
        report=tmp_path / "ok",
    )  # fmt: skip
    assert code == 0, out
    check_summary(summary, ["waste", "character", "bulk_waste", "general"])
    assert summary["passed"] and summary["slo_ok"] and summary["error_rate_ok"]
    # Embedded mode: the one /metrics holds the server-side histograms too.
    by_name = {v["name"]: v for v in summary["slo"]}
    assert by_name["intent_classification"]["samples"] >= summary["jobs"]["total"]
    assert by_name["intent_classification"]["status"] == "pass"
    assert "VERDICT: PASS" in out
    assert (tmp_path / "ok" / "report.html").read_text().count("<svg") >= 3

    impossible = slo_file(tmp_path, "impossible", 1e-6)
    code, summary, out = loadtest(
        "--url", embedded, "--users", "2", "--duration", "2", "--intents", "waste,general",
        "--seed", "4", "--min-samples", "1", "--slo", str(impossible), report=tmp_path / "bad",
    )  # fmt: skip
    assert code == 1, out
    check_summary(summary, ["waste", "general"])
    assert not summary["passed"] and not summary["slo_ok"] and summary["error_rate_ok"]
    statuses = {v["name"]: v["status"] for v in summary["slo"]}
    assert statuses["full_response_waste"] == statuses["full_response_general"] == "fail"
    assert statuses["intent_classification"] == "fail"
    assert "VERDICT: FAIL" in out and (tmp_path / "bad" / "report.html").exists()


def test_unreachable_url_is_an_error_rate_failure(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, summary, out = loadtest(
        "--url", url, "--users", "1", "--duration", "0.5", "--think", "0.1",
        "--slo", str(slo_file(tmp_path, "lenient", 100.0)), report=tmp_path / "r",
    )  # fmt: skip
    assert code == 1, out
    assert summary["jobs"]["error_rate"] == 1.0 and not summary["error_rate_ok"]


@pytest.fixture
def distributed(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """API (in a thread) + one ``eco2 worker`` process; yields (API URL, worker metrics URL)."""
    metrics_port = free_port()
    env = unique_env(ECO2_WORKER_METRICS_PORT=str(metrics_port))
    asyncio.run(require_distributed_services(env))
    log = tmp_path / "worker.log"
    with log.open("wb") as sink:
        worker = subprocess.Popen(
            [ECO2, "worker"], env=clean_env(**env), stdout=subprocess.DEVNULL, stderr=sink
        )
    try:
        with running_api(settings_from(env)) as url:
            yield url, f"http://127.0.0.1:{metrics_port}/metrics"
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
        asyncio.run(cleanup_distributed(env))


def test_distributed_run_reads_worker_metrics_and_find_max(
    distributed: tuple[str, str], tmp_path: Path
) -> None:
    url, worker_metrics = distributed
    deadline = time.monotonic() + 180
    while True:  # the worker is ready once its metrics endpoint answers
        try:
            if httpx.get(worker_metrics, timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "worker metrics never came up"
        time.sleep(0.2)
    lenient = slo_file(tmp_path, "lenient", 100.0)
    targets = ["--metrics-url", f"api={url}/metrics", "--metrics-url", f"worker={worker_metrics}"]
    code, summary, out = loadtest(
        "--url", url, "--users", "3", "--duration", "3", "--ramp", "1", *targets,
        "--min-samples", "1", "--seed", "4", "--slo", str(lenient), report=tmp_path / "ok",
    )  # fmt: skip
    assert code == 0, out
    check_summary(summary, ["waste", "character", "bulk_waste", "general"])
    by_name = {v["name"]: v for v in summary["slo"]}
    for name in ("intent_classification", "token_emission"):
        assert by_name[name]["samples"] > 0 and by_name[name]["status"] == "pass"
    assert set(summary["server"]["targets"]) == {"api", "worker"}
    assert {"api", "worker", "loadtest client"} <= set(summary["server"]["cpu_cores"])
    assert "intent" in summary["server"]["node_mean_s"]

    impossible = slo_file(tmp_path, "impossible", 1e-6)
    code, summary, out = loadtest(
        "--url", url, "--find-max", "--levels", "1,2", "--stage", "1", *targets,
        "--slo", str(impossible), report=tmp_path / "max",
    )  # fmt: skip
    assert code == 1, out  # not even the first level passes an impossible SLO
    found = summary["find_max"]
    assert found["max_passing_users"] is None and found["first_failing_users"] == 1
    assert len(found["levels"]) == 1 and found["bottleneck"]
    assert "highest passing level: none" in out

    code, summary, out = loadtest(
        # One intent: a 1 s level runs a job or two, too few to cover four intents.
        "--url", url, "--find-max", "--levels", "1,2", "--stage", "1", *targets, "--intents",
        "general", "--min-samples", "1", "--slo", str(lenient), report=tmp_path / "max2",
    )  # fmt: skip
    assert code == 0, out
    found = summary["find_max"]
    assert found["max_passing_users"] == 2 and found["first_failing_users"] is None
    assert [level["users"] for level in found["levels"]] == [1, 2]
    assert "--find-max" in (tmp_path / "max2" / "report.html").read_text()
