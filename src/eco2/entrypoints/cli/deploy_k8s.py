"""Kubernetes manifests generated from the same source as ``deploy/``'s rules and dashboard.

``deploy_gen`` renders the Prometheus rule file and the Grafana dashboard once; this module wraps
those very documents in the objects the cluster's monitoring stack reads, so the rules and the
dashboard in ``deploy/k8s/`` can never drift from ``deploy/prometheus`` and ``deploy/grafana``:

- a ``monitoring.coreos.com/v1`` ``PrometheusRule`` whose ``spec`` is the rule file's document;
- a ``ConfigMap`` carrying the dashboard JSON, labelled for the Grafana dashboard sidecar
  (``grafana_dashboard: "1"``, the kube-prometheus-stack default).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eco2.entrypoints.cli.deploy_rules import dump_yaml

K8S_BASE = Path("deploy/k8s/base")
PROMETHEUS_RULE = K8S_BASE / "prometheusrule.yaml"
DASHBOARD_CONFIGMAP = K8S_BASE / "grafana-dashboard.yaml"
DASHBOARD_KEY = "chat-worker-token-streaming.json"
LABELS = {"app.kubernetes.io/name": "eco2", "app.kubernetes.io/component": "monitoring"}


def prometheus_rule(rules: dict[str, Any]) -> dict[str, Any]:
    """The ``PrometheusRule`` holding ``rules`` (a Prometheus rule file's ``groups:`` document).

    Args:
        rules: The document written to ``deploy/prometheus/rules/eco2-alerts.yaml``.

    Returns:
        The Kubernetes object.
    """
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "eco2-alerts", "labels": dict(LABELS)},
        "spec": rules,
    }


def dashboard_configmap(dashboard_json: str) -> dict[str, Any]:
    """A ``ConfigMap`` the Grafana sidecar loads ``dashboard_json`` from.

    Args:
        dashboard_json: The exact text of ``deploy/grafana/dashboards/…json``.

    Returns:
        The Kubernetes object.
    """
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "eco2-grafana-dashboard",
            "labels": {**LABELS, "grafana_dashboard": "1"},
            "annotations": {"grafana_folder": "Eco2"},
        },
        "data": {DASHBOARD_KEY: dashboard_json},
    }


def k8s_files(rules: dict[str, Any], dashboard_json: str) -> dict[Path, str]:
    """The generated files of ``deploy/k8s/base``, by path relative to the repository root.

    Args:
        rules: The Prometheus rule document.
        dashboard_json: The dashboard file's text.

    Returns:
        Path → file content.
    """
    return {
        PROMETHEUS_RULE: dump_yaml(prometheus_rule(rules)),
        DASHBOARD_CONFIGMAP: dump_yaml(dashboard_configmap(dashboard_json)),
    }
