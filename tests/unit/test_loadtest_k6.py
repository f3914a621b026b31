"""The k6 script (``loadtest/k6/chat.js``) run under Node with stub k6 modules.

k6 cannot be installed here, but the script's logic is plain JavaScript: the stubs answer its
requests from a script and record its checks and metrics, so its stages, thresholds, latency
samples and stream resumption can be compared with ``eco2 loadtest``'s. Node comes from
``scripts/ensure-system-deps.sh``; without it these skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE = shutil.which("node")


@pytest.fixture(autouse=True)
def _node() -> None:
    if NODE is None:
        if os.environ.get("CI") == "true":
            pytest.fail("node missing: scripts/ensure-system-deps.sh installs it (nodejs)")
        pytest.skip("node not found: run scripts/ensure-system-deps.sh")


STUBS = {
    "node_modules/k6/package.json": json.dumps(
        {
            "type": "module",
            "exports": {".": "./index.js", "./http": "./http.js", "./metrics": "./metrics.js"},
        }
    ),
    "node_modules/k6/index.js": """
export function check(value, checks) {
  let ok = true;
  for (const [name, fn] of Object.entries(checks)) {
    const passed = Boolean(fn(value));
    globalThis.__k6.checks.push([name, passed]);
    ok = ok && passed;
  }
  return ok;
}
export function sleep() {}
""",
    "node_modules/k6/http.js": """
export default {
  post: (url, body, params) => globalThis.__k6.respond('POST', url, params),
  get: (url, params) => globalThis.__k6.respond('GET', url, params),
};
""",
    "node_modules/k6/metrics.js": """
class Metric {
  constructor(name) { this.name = name; }
  add(value, tags) { globalThis.__k6.metrics.push([this.name, Number(value), tags || {}]); }
}
export class Counter extends Metric {}
export class Rate extends Metric {}
export class Trend extends Metric {}
""",
    # The scenario (argv): env, the POST's answer, and one answer per events request (the last
    # one repeats). Runs one iteration and prints what the script did.
    "driver.mjs": """
const scenario = JSON.parse(process.argv[2]);
globalThis.__ENV = scenario.env || {};
const requests = [];
const answer = ({ status, body }) => ({
  status, body, json: (path) => { const v = JSON.parse(body); return path ? v[path] : v; },
});
globalThis.__k6 = {
  checks: [], metrics: [],
  respond(method, url, params) {
    requests.push({ method, url, headers: (params && params.headers) || {} });
    if (method === 'POST') return answer(scenario.post || { status: 202, body: '{"job_id":"j1"}' });
    const n = requests.filter((r) => r.method === 'GET').length;
    return answer(scenario.gets[Math.min(n, scenario.gets.length) - 1]);
  },
};
const script = await import('./chat.js');
if (scenario.gets) script.default();
const { checks, metrics } = globalThis.__k6;
console.log(JSON.stringify({ options: script.options, checks, metrics, requests }));
""",
    "package.json": json.dumps({"type": "module"}),
}


def k6(tmp_path: Path, **scenario: Any) -> dict[str, Any]:
    """Run one iteration of the script under the stubs; return what it did."""
    for name, text in STUBS.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    shutil.copy(ROOT / "loadtest" / "k6" / "chat.js", tmp_path / "chat.js")
    done = subprocess.run(
        [str(NODE), "driver.mjs", json.dumps(scenario)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def event(n: int, kind: str = "token") -> dict[str, Any]:
    return {"status": 200, "body": f"id: {n}-0\nevent: {kind}\ndata: {{}}\n\n"}


def latencies(run: dict[str, Any]) -> list[float]:
    return [value for name, value, _ in run["metrics"] if name == "chat_e2e_seconds"]


def errors(run: dict[str, Any]) -> list[float]:
    return [value for name, value, _ in run["metrics"] if name == "chat_job_errors"]


def test_stages_and_thresholds_are_the_reference_scenario(tmp_path: Path) -> None:
    # 0 → 50 over 1 m, 50 for 5 m, 50 → 0 over 1 m: `eco2 loadtest --users 50 --ramp 60
    # --duration 300`; SHORT=1 is `--users 50 --ramp 10 --duration 60`.
    for env, stages in (
        ({}, [("1m", 50), ("5m", 50), ("1m", 0)]),
        ({"SHORT": "1"}, [("10s", 50), ("60s", 50), ("10s", 0)]),
    ):
        options = k6(tmp_path, env=env)["options"]
        chat = options["scenarios"]["chat"]
        assert [(s["duration"], s["target"]) for s in chat["stages"]] == stages
    # `eco2 loadtest --max-error-rate 0.01` passes exactly 1 %; SLO percentiles pass at the
    # threshold.
    assert options["thresholds"]["chat_job_errors"] == ["rate<=0.01"]
    assert options["thresholds"]["chat_e2e_seconds{intent:general}"] == [
        "p(50)<=1",
        "p(95)<=3",
        "p(99)<=5",
    ]


def test_every_job_is_timed_failed_ones_included(tmp_path: Path) -> None:
    failed = k6(tmp_path, gets=[event(1, "error")])
    assert errors(failed) == [1] and len(latencies(failed)) == 1
    assert latencies(failed)[0] < 120  # an error counts with its time
    for gets in ([{"status": 503, "body": ""}], [{"status": 200, "body": ": keep-alive\n\n"}]):
        unanswered = k6(tmp_path, gets=gets)
        assert errors(unanswered) == [1] and latencies(unanswered) == [120], gets
    refused = k6(tmp_path, post={"status": 503, "body": "{}"}, gets=[])
    assert errors(refused) == [1] and latencies(refused) == [120]


def test_a_stream_moving_over_recycled_connections_is_followed_to_the_end(
    tmp_path: Path,
) -> None:
    # 30 connections with one new event each: far more than the budget of fruitless ones.
    run = k6(tmp_path, gets=[event(n) for n in range(1, 30)] + [event(30, "done")])
    gets = [r for r in run["requests"] if r["method"] == "GET"]
    assert len(gets) == 30 and gets[-1]["headers"] == {"Last-Event-ID": "29-0"}
    assert errors(run) == [0] and ["stream ends with done", True] in run["checks"]


def test_a_stream_that_stops_moving_is_given_up_after_the_budget(tmp_path: Path) -> None:
    run = k6(tmp_path, gets=[event(1), {"status": 200, "body": ": keep-alive\n\n"}])
    assert sum(r["method"] == "GET" for r in run["requests"]) == 1 + 11
    assert errors(run) == [1]


def test_a_transport_failure_resumes_from_the_last_event(tmp_path: Path) -> None:
    # Status 0 is k6's timeout or reset: resumed with Last-Event-ID, as eco2 loadtest does.
    run = k6(tmp_path, gets=[event(1), {"status": 0, "body": None}, event(2, "done")])
    gets = [r for r in run["requests"] if r["method"] == "GET"]
    resumed = {"Last-Event-ID": "1-0"}
    assert [g["headers"] for g in gets] == [{}, resumed, resumed]
    assert errors(run) == [0]
    never = k6(tmp_path, gets=[{"status": 0, "body": None}])  # nothing there: given up soon
    assert sum(r["method"] == "GET" for r in never["requests"]) == 3 and errors(never) == [1]
