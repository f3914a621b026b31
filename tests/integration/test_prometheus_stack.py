"""A real Prometheus scraping a running ``eco2 serve`` (issue 4, item 6; DESIGN.md §5).

Two ``eco2 serve`` processes serve chats over HTTP: the main one (scraped as both ``eco2-api``
and ``eco2-worker``: in embedded mode one ``/metrics`` shows everything) and a second one whose
offline model answers later than its job timeout allows, so its jobs really fail with
``timeout`` and ``chat_errors_total`` has data. Prometheus (Debian's ``prometheus`` package,
installed by ``scripts/ensure-system-deps.sh``) scrapes both every second and loads the shipped
alert rules. Then every dashboard query and every rule expression must evaluate without error,
every dashboard query must return data, and the rule groups must be loaded and healthy.

The traffic comes in two waves with a scrape in between, so counters and histograms have moved
inside the rate window: rates are non-zero and percentiles are numbers, not NaN.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from eco2.entrypoints.cli.deploy_gen import DASHBOARD, RULES, SLO_FILE, prometheus_config
from eco2.entrypoints.cli.deploy_slo import load_spec
from tests.fakes.server import free_port
from tests.sse import SseEvent, parse_sse

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXE = Path(sys.executable).with_name("eco2")
TERMINAL = {"done", "error"}

# Grafana's variables, as a dashboard over the last minute would expand them.
GRAFANA_VARIABLES = {
    "${datasource}": "eco2-prometheus",
    "$datasource": "eco2-prometheus",
    "$__rate_interval": "1m",
    "$__interval_ms": "1000",
    "$__interval": "1s",
    "$__range_ms": "60000",
    "$__range_s": "60",
    "$__range": "1m",
}

# One message per intent the load test uses, plus one the knowledge base cannot answer (its RAG
# grade is poor, so the fallback path is counted). Weather is not configured offline, so every
# job that asks the weather sub-agent counts a ``not_configured`` sub-agent call.
CHATS = {
    "페트병 어떻게 버려?": "waste",
    "이코 소개해줘": "character",
    "소파 버리는 방법 알려줘": "bulk_waste",
    "안녕하세요": "general",
    "우주선 폐기물은 어떻게 분리배출해?": "waste",
}

# Queries that must have data because this test caused the event (beyond the dashboard's own).
CAUSED = {
    'chat_errors_total{error_type="timeout"}': "the slow process's jobs time out",
    'chat_subagent_calls_total{subagent="weather",status="not_configured"}': "no weather API",
    'chat_rag_feedback_total{quality="poor",fallback!="none"}': "the spaceship question",
    'chat_stream_recovery_total{type="catch_up",status="success"}': "resume: Last-Event-ID",
    'chat_stream_recovery_total{type="snapshot",status="success"}': "snapshot of a job",
    'chat_stream_recovery_total{type="snapshot",status="error"}': "snapshot of no job",
}

DEADLINE_S = 180.0


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        reason = (
            f"{tool} is not installed (Debian package prometheus; scripts/ensure-system-deps.sh)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def _wait(
    what: str,
    check: Callable[[], bool],
    timeout_s: float,
    procs: dict[str, Any],
    *,
    required: bool = True,
) -> bool:
    """Poll ``check`` until it holds; fail early when one of ``procs`` has exited.

    Returns:
        True when ``check`` held; False on timeout when not ``required`` (else the test fails).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if check():
                return True
        for name, (proc, log) in procs.items():
            if proc.poll() is not None:
                tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
                pytest.fail(
                    f"{name} exited with {proc.returncode} while waiting for {what}:\n{tail}"
                )
        if time.monotonic() > deadline:
            if not required:
                return False
            pytest.fail(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.2)


@contextlib.contextmanager
def _process(cmd: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``cmd`` with its output in ``log``; terminate (then kill) it on exit."""
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            cmd, env=env, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)


def _serve_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ECO2_", "OPENAI_"))}
    env["ECO2_OFFLINE_TOKENS_PER_S"] = "0"
    env.update(extra)
    return env


def _events(client: httpx.Client, path: str, last_event_id: str | None = None) -> list[SseEvent]:
    """Read an SSE stream to its terminal event (the server closes the stream after it)."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    with client.stream("GET", path, headers=headers, timeout=30) as response:
        assert response.status_code == 200, response.read()
        text = "".join(response.iter_text())
    events = parse_sse(text)
    assert events and events[-1].event in TERMINAL, text[-500:]
    return events


def _chat(client: httpx.Client, message: str) -> tuple[str, list[SseEvent]]:
    accepted = client.post("/api/v1/chat", json={"message": message})
    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    return body["job_id"], _events(client, body["stream_url"])


def _wave(serve: httpx.Client, slow: httpx.Client) -> int:
    """Serve every chat, resume one stream and take snapshots; return the successful jobs."""
    intents: set[str] = set()
    job_ids = []
    for message in CHATS:
        job_id, events = _chat(serve, message)
        assert events[-1].event == "done", events[-1]
        intents.update(events[-1].data["intents"])
        job_ids.append(job_id)
    assert set(CHATS.values()) <= intents, intents
    # A client that lost its connection resumes after the last entry it saw.
    job_id, events = _chat(serve, "플라스틱 컵은 어떻게 버려?")
    job_ids.append(job_id)
    cut = len(events) // 2
    resumed = _events(serve, f"/api/v1/chat/{job_id}/events", last_event_id=events[cut].id)
    assert [e.id for e in resumed] == [e.id for e in events[cut + 1 :]]
    snapshot = serve.get(f"/api/v1/chat/{job_id}/snapshot")
    assert snapshot.status_code == 200 and snapshot.json()["status"] == "done", snapshot.text
    assert serve.get("/api/v1/chat/no-such-job/snapshot").status_code == 404
    _, failed = _chat(slow, "안녕하세요")
    assert failed[-1].event == "error" and failed[-1].data["code"] == "timeout", failed[-1]
    return len(job_ids)


class Prometheus:
    """The HTTP API of the Prometheus under test."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def query(self, expr: str) -> tuple[list[dict[str, Any]] | None, str]:
        """Evaluate ``expr`` now: the result vector, or None and the error."""
        response = self.client.get("/api/v1/query", params={"query": expr})
        body = response.json()
        if response.status_code != 200 or body.get("status") != "success":
            return None, f"{body.get('errorType')}: {body.get('error')}"
        data = body["data"]
        if data["resultType"] != "vector":
            return [{"value": data["result"]}], ""
        return data["result"], "; ".join(body.get("warnings", []))

    def holds(self, expr: str) -> Callable[[], bool]:
        """A check that ``expr`` returns a non-empty result."""
        return lambda: bool(self.query(expr)[0])

    def value(self, expr: str) -> float:
        result, error = self.query(expr)
        assert result is not None, error
        return float(result[0]["value"][1]) if result else math.nan

    def rules(self) -> list[dict[str, Any]]:
        return list(self.client.get("/api/v1/rules").json()["data"]["groups"])


def _healthy(client: httpx.Client) -> Callable[[], bool]:
    return lambda: client.get("/healthz", timeout=1).status_code == 200


def _grafana(expr: str) -> str:
    for variable in sorted(GRAFANA_VARIABLES, key=len, reverse=True):
        expr = expr.replace(variable, GRAFANA_VARIABLES[variable])
    assert "$" not in expr, f"unsubstituted Grafana variable in {expr}"
    return expr


def _dashboard_targets() -> list[tuple[str, str]]:
    """(panel title, expression) of every query of the shipped dashboard JSON."""
    document = json.loads((ROOT / DASHBOARD).read_text(encoding="utf-8"))
    panels = [*document["panels"]]
    panels += [inner for p in document["panels"] for inner in p.get("panels", [])]
    targets = [(p["title"], t["expr"]) for p in panels for t in p.get("targets", [])]
    assert targets, "the dashboard has no queries"
    return targets


def _rule_exprs() -> list[tuple[str, str, str]]:
    """(group, rule name, expression) of every rule in the shipped rule file."""
    groups = yaml.safe_load((ROOT / RULES).read_text(encoding="utf-8"))["groups"]
    return [
        (g["name"], r.get("alert") or r["record"], r["expr"]) for g in groups for r in g["rules"]
    ]


def _finite(result: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(float(sample["value"][1])) for sample in result)


def test_dashboard_and_rules_against_real_prometheus(tmp_path: Path) -> None:
    prometheus_bin, promtool = _require("prometheus"), _require("promtool")
    rules_file = ROOT / RULES
    checked = subprocess.run(
        [promtool, "check", "rules", str(rules_file)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()

    serve_port, slow_port, prom_port = free_port(), free_port(), free_port()
    config = prometheus_config(
        {
            "eco2-api": f"127.0.0.1:{serve_port}",
            "eco2-worker": f"127.0.0.1:{serve_port}",
            "eco2-slow": f"127.0.0.1:{slow_port}",
        },
        [str(rules_file)],
        interval="1s",
    )
    config_file = tmp_path / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    checked = subprocess.run(
        [promtool, "check", "config", str(config_file)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()

    serve_cmd = [str(EXE), "serve", "--host", "127.0.0.1", "--port"]
    # The slow process: the offline model's first token comes after the job timeout.
    slow_env = _serve_env(ECO2_OFFLINE_TTFT_S="5", ECO2_JOB_TIMEOUT_S="0.5")
    prom_cmd = [
        prometheus_bin,
        f"--config.file={config_file}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{prom_port}",
        "--log.level=warn",
    ]
    logs = {name: tmp_path / f"{name}.log" for name in ("serve", "slow", "prometheus")}
    with contextlib.ExitStack() as stack:
        procs = {
            "eco2 serve": (
                stack.enter_context(
                    _process([*serve_cmd, str(serve_port)], _serve_env(), logs["serve"])
                ),
                logs["serve"],
            ),
            "eco2 serve (slow)": (
                stack.enter_context(_process([*serve_cmd, str(slow_port)], slow_env, logs["slow"])),
                logs["slow"],
            ),
            "prometheus": (
                stack.enter_context(_process(prom_cmd, os.environ.copy(), logs["prometheus"])),
                logs["prometheus"],
            ),
        }
        serve = stack.enter_context(httpx.Client(base_url=f"http://127.0.0.1:{serve_port}"))
        slow = stack.enter_context(httpx.Client(base_url=f"http://127.0.0.1:{slow_port}"))
        prom = Prometheus(
            stack.enter_context(httpx.Client(base_url=f"http://127.0.0.1:{prom_port}", timeout=10))
        )
        for client in (serve, slow):
            _wait(f"{client.base_url}/healthz", _healthy(client), DEADLINE_S, procs)
        _wait("prometheus ready", lambda: prom.client.get("/-/ready").status_code == 200, 30, procs)

        # Wave 1 creates the series; once Prometheus has them, wave 2 moves them.
        jobs = 0
        for wave in (1, 2):
            jobs += _wave(serve, slow)
            scraped = (
                f'sum(chat_requests_total{{job="eco2-api",status="success"}}) >= {jobs} and '
                f'sum(chat_requests_total{{job="eco2-slow",status="error"}}) >= {wave}'
            )
            _wait(f"wave {wave} scraped", prom.holds(scraped), 15, procs)
        _wait(
            "two scrapes of every target, all up",
            lambda: prom.value("min(count_over_time(up[1m]))") >= 2 and prom.value("min(up)") == 1,
            15,
            procs,
        )
        # Every SLO objective's good-ratio recording has been evaluated on the second wave's data.
        objectives = sum(len(slo.objectives) for slo in load_spec(ROOT / SLO_FILE).slos)
        _wait(
            "the recording rules evaluated",
            lambda: prom.value("count(eco2:slo_good_ratio:rate5m >= 0)") == objectives,
            15,
            procs,
        )

        errors, empty, nan_only, warnings = [], [], [], []
        for title, expr in _dashboard_targets():
            query = _grafana(expr)
            result, note = prom.query(query)
            if result is None:
                errors.append(f"dashboard {title!r}: {query}: {note}")
            elif not result:
                empty.append(f"dashboard {title!r}: {query}")
            elif not _finite(result):
                nan_only.append(f"dashboard {title!r}: {query}")
            if note and result is not None:
                warnings.append(f"dashboard {title!r}: {note}")
        for group, name, expr in _rule_exprs():
            result, note = prom.query(expr)
            if result is None:
                errors.append(f"rule {group}/{name}: {expr}: {note}")
            elif name.startswith("eco2:") and not result:
                # A recording with no series would leave its burn-rate alerts unable to fire
                # (e.g. an `le` that is not written the way the histogram writes it).
                empty.append(f"rule {group}/{name}: {expr}")
            if note and result is not None:
                warnings.append(f"rule {group}/{name}: {note}")
        for expr, why in CAUSED.items():
            result, note = prom.query(expr)
            if not result:
                empty.append(f"{expr} ({why}) {note}")
        assert not errors, "queries that do not evaluate:\n" + "\n".join(errors)
        assert not empty, "queries without data:\n" + "\n".join(empty)
        assert not nan_only, "queries with only NaN (nothing moved in the window):\n" + "\n".join(
            nan_only
        )
        assert not warnings, "\n".join(warnings)

        def unhealthy() -> list[str]:
            return [
                f"{g['name']}/{r['name']}: {r['health']} {r.get('lastError', '')}"
                for g in prom.rules()
                for r in g["rules"]
                if r["health"] != "ok"
            ]

        _wait("every rule evaluated", lambda: not unhealthy(), 10, procs, required=False)
        assert not unhealthy(), "\n".join(unhealthy())
        groups = {g["name"]: g for g in prom.rules()}
        expected = {group for group, _, _ in _rule_exprs()}
        assert set(groups) == expected, f"loaded {sorted(groups)}, expected {sorted(expected)}"
        assert sum(len(g["rules"]) for g in groups.values()) == len(_rule_exprs())
