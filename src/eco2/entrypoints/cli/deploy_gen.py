"""Generate the ``deploy/`` artefacts from ``deploy/slo.yaml``, the single source of thresholds.

Usage::

    python -m eco2.entrypoints.cli.deploy_gen [--root DIR] [--check]

Writes the Prometheus rules and their ``promtool`` tests, the Prometheus scrape config, the
Grafana dashboard and the Grafana provisioning files, and the Kubernetes ``PrometheusRule`` and
dashboard ``ConfigMap`` wrapping the same rules and dashboard (``deploy_k8s``). Output is
deterministic and needs no network. ``--check`` writes nothing and exits 1 when a file on disk
differs from what would be generated (a hand edit, or a ``slo.yaml`` change that was not
regenerated).
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eco2.entrypoints.cli.deploy_dashboard import dashboard
from eco2.entrypoints.cli.deploy_k8s import k8s_files
from eco2.entrypoints.cli.deploy_rules import alert_rules, dump_yaml
from eco2.entrypoints.cli.deploy_ruletests import rule_tests
from eco2.entrypoints.cli.deploy_slo import DeploySpec, load_spec

SLO_FILE = Path("deploy/slo.yaml")
RULES = Path("deploy/prometheus/rules/eco2-alerts.yaml")
RULE_TESTS = Path("deploy/prometheus/tests/eco2-alerts.test.yaml")
PROMETHEUS = Path("deploy/prometheus/prometheus.yml")
DASHBOARD = Path("deploy/grafana/dashboards/chat-worker-token-streaming.json")
GRAFANA_DATASOURCE = Path("deploy/grafana/provisioning/datasources/prometheus.yaml")
GRAFANA_DASHBOARDS = Path("deploy/grafana/provisioning/dashboards/eco2.yaml")

# Compose service names and ports: the API serves /metrics on its HTTP port, the worker on its own.
SCRAPE_TARGETS = {"eco2-api": "eco2-api:8000", "eco2-worker": "eco2-worker:9101"}
SCRAPE_INTERVAL = "15s"
PROMETHEUS_URL = "http://prometheus:9090"
DATASOURCE_UID = "eco2-prometheus"
DASHBOARDS_DIR = "/var/lib/grafana/dashboards"  # where compose mounts deploy/grafana/dashboards


def prometheus_config(
    targets: dict[str, str],
    rule_files: Sequence[str],
    interval: str = SCRAPE_INTERVAL,
    alertmanagers: Sequence[str] = (),
) -> dict[str, Any]:
    """A Prometheus config scraping ``/metrics`` of each ``job → host:port`` target.

    Args:
        targets: Job name to ``host:port``.
        rule_files: Rule file paths, relative to the config file.
        interval: Scrape and rule-evaluation interval.
        alertmanagers: ``host:port`` of Alertmanagers to send firing alerts to.

    Returns:
        The ``prometheus.yml`` document.
    """
    config: dict[str, Any] = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": list(rule_files),
        "scrape_configs": [
            {
                "job_name": job,
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [target]}],
            }
            for job, target in targets.items()
        ],
    }
    if alertmanagers:
        config["alerting"] = {
            "alertmanagers": [{"static_configs": [{"targets": list(alertmanagers)}]}]
        }
    return config


def _grafana_datasource() -> dict[str, Any]:
    source = {
        "name": "Prometheus",
        "uid": DATASOURCE_UID,
        "type": "prometheus",
        "access": "proxy",
        "url": PROMETHEUS_URL,
        "isDefault": True,
        "editable": False,
        "jsonData": {"timeInterval": SCRAPE_INTERVAL},
    }
    return {"apiVersion": 1, "datasources": [source]}


def _grafana_dashboards() -> dict[str, Any]:
    provider = {
        "name": "eco2",
        "folder": "Eco2",
        "type": "file",
        "disableDeletion": False,
        "allowUiUpdates": False,
        "updateIntervalSeconds": 30,
        "options": {"path": DASHBOARDS_DIR, "foldersFromFilesStructure": False},
    }
    return {"apiVersion": 1, "providers": [provider]}


def render(spec: DeploySpec) -> dict[Path, str]:
    """Every generated file's text, by path relative to the repository root.

    Args:
        spec: The loaded ``deploy/slo.yaml``.

    Returns:
        Path → file content, in a fixed order.
    """
    rules_from_config = str(RULES.relative_to(PROMETHEUS.parent))
    scrape = prometheus_config(
        SCRAPE_TARGETS, [rules_from_config], alertmanagers=["alertmanager:9093"]
    )
    files = {
        RULES: dump_yaml(alert_rules(spec)),
        RULE_TESTS: dump_yaml(rule_tests(spec)),
        PROMETHEUS: dump_yaml(scrape, "deploy_gen.py"),
        DASHBOARD: json.dumps(dashboard(spec), indent=2, ensure_ascii=False) + "\n",
        GRAFANA_DATASOURCE: dump_yaml(_grafana_datasource(), "deploy_gen.py"),
        GRAFANA_DASHBOARDS: dump_yaml(_grafana_dashboards(), "deploy_gen.py"),
    }
    # The k8s PrometheusRule and dashboard ConfigMap wrap the very same documents.
    files.update(k8s_files(alert_rules(spec), files[DASHBOARD]))
    return files


def stale(root: Path, files: dict[Path, str]) -> list[str]:
    """Unified diffs of the files under ``root`` that differ from ``files`` (empty: in sync)."""
    diffs = []
    for path, text in files.items():
        target = root / path
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != text:
            diff = difflib.unified_diff(
                current.splitlines(keepends=True),
                text.splitlines(keepends=True),
                f"{path} (on disk)",
                f"{path} (generated)",
            )
            diffs.append("".join(diff) if target.exists() else f"missing: {path}\n")
    return diffs


def main(argv: Sequence[str] | None = None) -> int:
    """Generate (or ``--check``) the deploy artefacts; return the exit status.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` when None.

    Returns:
        0 when the files were written or are in sync, 1 when ``--check`` found drift, 2 when
        ``slo.yaml`` is missing or invalid.
    """
    parser = argparse.ArgumentParser(prog="python -m eco2.entrypoints.cli.deploy_gen")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root")
    parser.add_argument("--check", action="store_true", help="fail if files are out of date")
    args = parser.parse_args(argv)
    root: Path = args.root
    try:
        files = render(load_spec(root / SLO_FILE))
    except (OSError, ValueError) as exc:
        print(f"deploy_gen: error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        diffs = stale(root, files)
        for diff in diffs:
            sys.stdout.write(diff)
        if diffs:
            print(
                f"deploy_gen: {len(diffs)} file(s) out of date; run without --check",
                file=sys.stderr,
            )
            return 1
        return 0
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
