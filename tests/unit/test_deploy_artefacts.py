"""``deploy/``: generated from ``deploy/slo.yaml``, true to DESIGN.md §5, promtool-clean.

The expectations below are written out from DESIGN.md §5 on purpose (not imported from the
generator), so a generator bug cannot hide behind its own constants.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import generate_latest
from prometheus_client.utils import floatToGoString

from eco2.entrypoints.cli import deploy_gen
from eco2.infrastructure.prometheus.metrics import PrometheusMetrics

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
RULES = DEPLOY / "prometheus/rules/eco2-alerts.yaml"
RULE_TESTS = DEPLOY / "prometheus/tests/eco2-alerts.test.yaml"
PROMETHEUS = DEPLOY / "prometheus/prometheus.yml"
DASHBOARD = DEPLOY / "grafana/dashboards/chat-worker-token-streaming.json"

# DESIGN.md §5 metric names.
HISTOGRAMS = {
    "chat_stream_token_latency_seconds",
    "chat_stream_token_interval_seconds",
    "chat_stream_duration_seconds",
    "chat_stream_token_count",
    "chat_request_duration_seconds",
    "chat_subagent_duration_seconds",
    "chat_node_duration_seconds",
    "chat_time_to_first_token_seconds",
    "chat_queue_wait_seconds",
}
SCALARS = {
    "chat_stream_tokens_total",
    "chat_stream_requests_total",
    "chat_stream_recovery_total",
    "chat_stream_active",
    "chat_requests_total",
    "chat_intents_total",
    "chat_errors_total",
    "chat_subagent_calls_total",
    "chat_llm_tokens_total",
    "chat_rag_feedback_total",
}
DESIGN_NAMES = SCALARS | {h + s for h in HISTOGRAMS for s in ("", "_bucket", "_count", "_sum")}

# DESIGN.md §5 SLO table (seconds) and the histogram each row is measured on.
DESIGN_SLOS = {
    "intent classification": ((0.1, 0.3, 0.5), "chat_node_duration_seconds", {"node": "intent"}),
    "RAG search": ((0.5, 1, 2), "chat_subagent_duration_seconds", {"subagent": "waste_rag"}),
    "full response, waste": ((2, 5, 10), "chat_request_duration_seconds", {"intent": "waste"}),
    "full response, general": ((1, 3, 5), "chat_request_duration_seconds", {"intent": "general"}),
    "token emission latency": ((0.005, 0.025, 0.05), "chat_stream_token_latency_seconds", {}),
}
# DESIGN.md §5 alerts: metric → (threshold, for, severity).
DESIGN_ALERTS = {
    "chat_stream_token_latency_seconds": (0.05, "5m", "warning"),
    "chat_stream_duration_seconds": (30, "5m", "critical"),
    "chat_stream_active": (100, "1m", "warning"),
}
# DESIGN.md §5 dashboard order after the four stats (first panel using each metric).
PANEL_ORDER = [
    "chat_stream_tokens_total",
    "chat_stream_duration_seconds",
    "chat_stream_token_count",
    "chat_stream_recovery_total",
    "chat_requests_total",
    "chat_request_duration_seconds",
    "chat_node_duration_seconds",
    "chat_subagent_duration_seconds",
    "chat_errors_total",
    "chat_queue_wait_seconds",
    "chat_time_to_first_token_seconds",
    "chat_rag_feedback_total",
]
KEYWORDS = {"and", "or", "unless", "offset", "bool"}


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def slo_file() -> dict[str, Any]:
    data: dict[str, Any] = load(DEPLOY / "slo.yaml")
    return data


def rules() -> list[dict[str, Any]]:
    return [rule for group in load(RULES)["groups"] for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are not functions, labels, keywords."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set()
    for match in re.finditer(r"(?<![\w.$])[A-Za-z_:][\w:]*", expr):
        if match[0] not in KEYWORDS and not expr[match.end() :].lstrip().startswith("("):
            names.add(match[0])
    return names


def expressions() -> list[str]:
    panels = dashboard()["panels"]
    return [r["expr"] for r in rules()] + [t["expr"] for p in panels for t in p["targets"]]


def test_metric_name_extraction() -> None:
    expr = 'histogram_quantile(0.95, sum by (le, node) (rate(a_bucket{le="1.0"}[5m]))) > 1e-3'
    assert metric_names(expr) == {"a_bucket"}
    assert metric_names('(1 - x:y:rate5m{slo="s"}) > (6 * (1 - 0.99))\nand\nsum(b)') == {
        "x:y:rate5m",
        "b",
    }


def test_generated_files_are_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "eco2.entrypoints.cli.deploy_gen", "--root", str(ROOT), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_catches_hand_edits_and_unregenerated_slo_changes(tmp_path: Path) -> None:
    shutil.copytree(DEPLOY, tmp_path / "deploy")
    args = ["--root", str(tmp_path), "--check"]
    assert deploy_gen.main(args) == 0
    edited = tmp_path / "deploy/prometheus/rules/eco2-alerts.yaml"
    edited.write_text(edited.read_text().replace("> 100", "> 150"))
    assert deploy_gen.main(args) == 1
    assert deploy_gen.main(["--root", str(tmp_path)]) == 0
    assert deploy_gen.main(args) == 0
    slo = tmp_path / "deploy/slo.yaml"
    slo.write_text(slo.read_text().replace("p99: 0.5}", "p99: 0.6}"))
    assert deploy_gen.main(args) == 1


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("p99: 0.5}", "p99: 0.2}", "ascending"),
        ("{percentile: p99, target: 0.99}", "{percentile: p90, target: 0.99}", "objective"),
        ("factor: 14.4", "factor: 144", "never fire"),
        ("{slo: token_emission, percentile: p99}", "{slo: nope, percentile: p99}", "nope"),
    ],
)
def test_invalid_slo_file_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, message: str
) -> None:
    (tmp_path / "deploy").mkdir()
    text = (DEPLOY / "slo.yaml").read_text()
    assert old in text
    (tmp_path / "deploy/slo.yaml").write_text(text.replace(old, new, 1))
    assert deploy_gen.main(["--root", str(tmp_path), "--check"]) == 2
    assert message in capsys.readouterr().err


def test_slo_file_is_the_design_table() -> None:
    slos = {s["feature"]: s for s in slo_file()["slos"]}
    assert list(slos) == list(DESIGN_SLOS)
    for feature, (thresholds, metric, selector) in DESIGN_SLOS.items():
        slo = slos[feature]
        assert tuple(slo["thresholds"][p] for p in ("p50", "p95", "p99")) == thresholds
        assert (slo["metric"], slo["selector"]) == (metric, selector)
        assert slo["objectives"], feature


def test_stream_alerts_are_design_alerts_with_slo_file_thresholds() -> None:
    spec = slo_file()
    thresholds = {s["name"]: s["thresholds"] for s in spec["slos"]}
    declared = {}
    for alert in spec["alerts"]:
        ref = alert["threshold"]
        value = thresholds[ref["slo"]][ref["percentile"]] if isinstance(ref, dict) else ref
        declared[alert["name"]] = (alert["metric"], value, alert["for"], alert["severity"])
    generated = {r["alert"]: r for r in rules() if r.get("for")}
    assert set(generated) == set(declared)
    for name, (metric, value, for_, severity) in declared.items():
        assert DESIGN_ALERTS[metric] == (value, for_, severity)
        rule = generated[name]
        assert metric_names(rule["expr"]) == {metric if metric in SCALARS else f"{metric}_bucket"}
        assert float(rule["expr"].rsplit(">", 1)[1]) == value
        assert (rule["for"], rule["labels"]["severity"]) == (for_, severity)


def test_burn_rate_rules_use_slo_file_thresholds_and_tiers() -> None:
    spec = slo_file()
    tiers = {t["name"]: t for t in spec["burn_rate_alerts"]}
    records = [r for r in rules() if "record" in r]
    alerts = [r for r in rules() if "alert" in r and "burn_window" in r.get("labels", {})]
    for slo in spec["slos"]:
        for objective in slo["objectives"]:
            labels = {"slo": slo["name"], "objective": objective["percentile"]}
            mine = [r for r in records if r["labels"] == labels]
            windows = {t[k] for t in tiers.values() for k in ("long_window", "short_window")}
            assert {r["record"].rsplit("rate", 1)[1] for r in mine} == windows
            le = floatToGoString(slo["thresholds"][objective["percentile"]])
            for record in mine:
                assert set(re.findall(r'le="([^"]+)"', record["expr"])) == {le}
                assert metric_names(record["expr"]) == {
                    slo["metric"] + "_bucket",
                    slo["metric"] + "_count",
                }
                for key, value in slo["selector"].items():
                    assert record["expr"].count(f'{key}="{value}"') == 2
            selector = f'{{slo="{slo["name"]}",objective="{objective["percentile"]}"}}'
            mine = [a for a in alerts if selector in a["expr"]]
            assert sorted(a["labels"]["burn_window"] for a in mine) == sorted(tiers)
            for alert in mine:
                tier = tiers[alert["labels"]["burn_window"]]
                limit = f"> ({tier['factor']} * (1 - {objective['target']}))"
                assert alert["expr"].count(limit) == 2
                for window in (tier["long_window"], tier["short_window"]):
                    assert f"rate{window}{selector}" in alert["expr"]
                assert alert["labels"]["severity"] == tier["severity"]
                assert alert["labels"]["notify"] == tier["notify"]


def test_recorded_buckets_are_exposed_by_the_prometheus_adapter() -> None:
    """Each ``_bucket{...,le=...}`` the SLO rules read is a series the real exporter writes."""
    metrics = PrometheusMetrics()
    metrics.node_finished("intent", "ok", 0.2)
    metrics.subagent_call("waste_rag", "ok", 0.7)
    metrics.request_finished("waste", "success", "offline", 3.0)
    metrics.request_finished("general", "success", "offline", 2.0)
    stream, now = metrics.stream("offline"), time.perf_counter()
    stream.tokens("answer", [now], now + 0.01)
    stream.finish("success")
    exposed = [
        (name, dict(re.findall(r'(\w+)="([^"]*)"', labels)))
        for name, labels in re.findall(
            r"^(\w+)\{([^}]*)\}", generate_latest(metrics.registry).decode(), re.M
        )
    ]
    recorded = [rule["expr"] for rule in rules() if "record" in rule]
    for name, selector in re.findall(r"(\w+_bucket)\{([^}]*)\}", "\n".join(recorded)):
        wanted = dict(re.findall(r'(\w+)="([^"]*)"', selector)).items()
        assert any(n == name and wanted <= labels.items() for n, labels in exposed), (
            f"{name}{{{selector}}} is not a series of the Prometheus adapter"
        )


def test_dashboard_thresholds_come_from_slo_file() -> None:
    spec = slo_file()
    panels = {p["title"]: p for p in dashboard()["panels"]}

    def steps(title: str) -> list[float]:
        found = panels[title]["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert found[0]["value"] is None
        return [s["value"] for s in found[1:]]

    by_name = {s["name"]: s["thresholds"] for s in spec["slos"]}
    for slo in spec["slos"]:
        assert steps(f"SLO: {slo['feature']}") == [
            slo["thresholds"][p] for p in ("p50", "p95", "p99")
        ]
    assert steps("Active streams") == [100]
    assert steps("P95 token latency") == [by_name["token_emission"]["p95"], 0.05]
    assert steps("P95 stream duration") == [30]
    allowed = {v for t in by_name.values() for v in t.values()} | {30, 100}
    for title in panels:
        if panels[title]["type"] != "heatmap":
            assert set(steps(title)) <= allowed, title


def test_queries_use_only_design_metric_names() -> None:
    recorded = {r["record"] for r in rules() if "record" in r}
    for expr in expressions():
        names = metric_names(expr)
        assert names, expr
        assert names <= DESIGN_NAMES | recorded, (expr, names - DESIGN_NAMES - recorded)
    for panel in dashboard()["panels"]:
        for query in panel["targets"]:
            assert metric_names(query["expr"]) <= DESIGN_NAMES, query["expr"]


def test_dashboard_is_importable_with_design_panels() -> None:
    board = dashboard()
    assert board["title"] == "Chat Worker Token Streaming"
    assert board["uid"] == "eco2-chat-token-streaming" and "__inputs" not in board
    assert board["schemaVersion"] >= 39 and board["id"] is None
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    panels = board["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for query in panel["targets"]:
            assert (
                query["datasource"]["uid"] == "${datasource}" and query["expr"] and query["refId"]
            )
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
    first_four = [
        (p["type"], p["gridPos"]["y"], metric_names(p["targets"][0]["expr"])) for p in panels[:4]
    ]
    assert first_four == [
        ("stat", 0, {"chat_stream_active"}),
        ("stat", 0, {"chat_stream_tokens_total"}),
        ("stat", 0, {"chat_stream_token_latency_seconds_bucket"}),
        ("stat", 0, {"chat_stream_duration_seconds_bucket"}),
    ]
    first_use = {}
    for index, panel in enumerate(panels[4:]):
        for query in panel["targets"]:
            for name in metric_names(query["expr"]):
                first_use.setdefault(re.sub(r"_(bucket|count|sum)$", "", name), index)
    assert [first_use[name] for name in PANEL_ORDER] == sorted(first_use[n] for n in PANEL_ORDER)


def test_prometheus_scrapes_api_and_worker_and_loads_the_rules() -> None:
    config = load(PROMETHEUS)
    jobs = {c["job_name"]: c for c in config["scrape_configs"]}
    assert jobs["eco2-api"]["static_configs"][0]["targets"] == ["eco2-api:8000"]
    assert jobs["eco2-worker"]["static_configs"][0]["targets"] == ["eco2-worker:9101"]
    assert all(job["metrics_path"] == "/metrics" for job in jobs.values())
    assert [(PROMETHEUS.parent / f).resolve() for f in config["rule_files"]] == [RULES]
    assert [(RULE_TESTS.parent / f).resolve() for f in load(RULE_TESTS)["rule_files"]] == [RULES]


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        reason = "promtool not found: install Debian's prometheus (scripts/ensure-system-deps.sh)"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *map(str, args)], capture_output=True, text=True, check=False, timeout=120
    )


def test_promtool_checks_rules_and_config() -> None:
    for result in (run("check", "rules", RULES), run("check", "config", PROMETHEUS)):
        assert result.returncode == 0, result.stdout + result.stderr
        # Lint findings (duplicate rules, say) are printed but do not fail the exit code.
        assert "FAILED" not in result.stdout + result.stderr, result.stdout + result.stderr


def test_promtool_rule_tests_pass() -> None:
    result = run("test", "rules", RULE_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr


# Breakages the promtool tests must catch, each applied alone to a copy of the rules.
MUTATIONS = {
    "stream alert threshold": (r"> 100$", "> 101"),
    "stream alert pending duration": (r"for: 5m$", "for: 1m"),
    "fast burn factor": (re.escape("(14.4 * (1 - 0.99))"), "(1.44 * (1 - 0.99))"),
    "SLO selector on good events": (re.escape('{intent="waste",le="10.0"}'), '{le="10.0"}'),
    "both windows must burn": (r"^(\s+)and$", r"\1or"),
    "fast burn long window": (re.escape("rate1h{"), "rate5m{"),
}


def test_rule_tests_catch_broken_rules(tmp_path: Path) -> None:
    tool = promtool()
    running = {}
    for index, (name, (pattern, replacement)) in enumerate(MUTATIONS.items()):
        copy = tmp_path / str(index)
        shutil.copytree(DEPLOY / "prometheus", copy)
        rules_file = copy / "rules/eco2-alerts.yaml"
        text, count = re.subn(pattern, replacement, rules_file.read_text(), flags=re.MULTILINE)
        assert count, name
        rules_file.write_text(text)
        command = [tool, "test", "rules", str(copy / "tests/eco2-alerts.test.yaml")]
        running[name] = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
    survived = [name for name, process in running.items() if process.wait(timeout=120) == 0]
    assert not survived, f"promtool tests still pass with a broken rule: {survived}"
