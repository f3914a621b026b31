"""Container image, compose stack and Kubernetes manifests (issue 7), checked statically.

There is no Docker engine or cluster here, so nothing is built or applied. Instead:

- every manifest and the compose file parse;
- the kustomize overlays are **rendered in Python** (``render``: base + overlay resources, the
  overlays' strategic-merge patches, namespace, labels and images — the only kustomize features
  these files use; any other kustomization field fails the test rather than being ignored), and
  every built-in Kubernetes object of each rendered overlay is validated against the official
  schemas shipped offline by ``kubernetes-validate`` (strict: unknown fields are errors);
  when a ``kubectl`` binary is on PATH, the Python rendering is also compared with
  ``kubectl kustomize``;
- the CRDs (KEDA ScaledObject/TriggerAuthentication, Prometheus operator ServiceMonitor/
  PrometheusRule) are checked against small schemas of their required fields and their
  references are resolved inside the rendered overlay;
- every environment variable the settings read is documented in ``.env.example``;
- the PrometheusRule and the dashboard ConfigMap are generated from the same source as
  ``deploy/prometheus`` and ``deploy/grafana`` (``deploy_gen --check``) and equal them.
"""

from __future__ import annotations

import ast
import copy
import http.server
import importlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import tomllib
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dockerfile
import jsonschema
import kubernetes_validate
import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from pydantic_settings import BaseSettings

from eco2.entrypoints.cli import deploy_gen

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
OVERLAYS = ["dev", "prod"]
COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
RULES = DEPLOY / "prometheus/rules/eco2-alerts.yaml"
PROMETHEUS = DEPLOY / "prometheus/prometheus.yml"
DASHBOARD = DEPLOY / "grafana/dashboards/chat-worker-token-streaming.json"
ALERTMANAGER = DEPLOY / "alertmanager/alertmanager.yml"

K8S_VERSION = "1.31"  # oldest Kubernetes the manifests target (autoscaling/v2, policy/v1)
CLUSTER_SCOPED = {"Namespace"}
# Secrets the prod overlay expects to exist in the cluster (created out of band, not in git).
EXTERNAL_SECRETS = {
    "eco2-connections": {"ECO2_REDIS_URL", "ECO2_AMQP_URL", "ECO2_DATABASE_URL"},
    "langsmith-credentials": {"LANGCHAIN_API_KEY"},
    "eco2-provider-keys": set(),  # optional: whichever provider keys a deployment has
}
WORKER_DRAIN_MARGIN_S = 10
# Benchmarks and load tests set variables for the processes they start; they read none.
NOT_ENV_READERS = re.compile(r"/(bench|loadtest)[^/]*\.py$|/_generated/")
ENV_NAME = r"(ECO2|LANGCHAIN|LANGSMITH|OTEL)_[A-Z0-9_]+"
SETTINGS_MODULES = ["eco2.settings", "eco2.infrastructure.integrations.config"]


def docs(path: Path) -> list[dict[str, Any]]:
    """The YAML documents of ``path`` (empty documents dropped)."""
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc is not None]


def manifest_files() -> list[Path]:
    return sorted(K8S.rglob("*.yaml"))


# --- a small kustomize ----------------------------------------------------------------------

KUSTOMIZATION_FIELDS = {"apiVersion", "kind", "namespace", "resources", "labels", "images"}
KUSTOMIZATION_FIELDS |= {"patches"}


def merge_key(items: list[Any]) -> str | None:
    """The strategic-merge key of a list: ``name`` when every item is a mapping with one."""
    if items and all(isinstance(item, dict) and "name" in item for item in items):
        return "name"
    return None


def strategic_merge(target: Any, patch: Any) -> Any:
    """Kubernetes strategic merge for what the overlays patch: maps merge, named lists merge by
    name (containers, env), other lists and scalars are replaced, ``null`` deletes."""
    if isinstance(target, dict) and isinstance(patch, dict):
        merged = dict(target)
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = strategic_merge(merged[key], value)
            else:
                merged[key] = copy.deepcopy(value)
        return merged
    if isinstance(target, list) and isinstance(patch, list) and merge_key(target):
        # Like kustomize: the patch's items first, in its order, then the untouched ones.
        key = merge_key(target)
        by_key = {item[key]: item for item in target}
        patched = [
            strategic_merge(by_key[item[key]], item) if item.get(key) in by_key else item
            for item in patch
        ]
        names = {item.get(key) for item in patch}
        return patched + [copy.deepcopy(item) for item in target if item[key] not in names]
    return copy.deepcopy(patch)


def group(api_version: str) -> str:
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def pod_specs(obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    template = obj.get("spec", {}).get("template")
    if obj["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"} and template:
        yield template["spec"]


def containers(obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for spec in pod_specs(obj):
        yield from spec.get("initContainers", [])
        yield from spec["containers"]


def render(directory: Path) -> list[dict[str, Any]]:
    """``kustomize build directory`` for the features the eco2 kustomizations use."""
    (kustomization,) = docs(directory / "kustomization.yaml")
    unsupported = set(kustomization) - KUSTOMIZATION_FIELDS
    assert not unsupported, f"{directory}: teach render() {sorted(unsupported)} first"
    objects: list[dict[str, Any]] = []
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        objects.extend(render(path) if path.is_dir() else docs(path))
    for patch_ref in kustomization.get("patches", []):
        assert set(patch_ref) == {"path"}, f"{directory}: only file patches are supported"
        for patch in docs(directory / patch_ref["path"]):
            wanted = (group(patch["apiVersion"]), patch["kind"], patch["metadata"]["name"])
            matches = [
                i
                for i, obj in enumerate(objects)
                if (group(obj["apiVersion"]), obj["kind"], obj["metadata"]["name"]) == wanted
            ]
            assert len(matches) == 1, f"{directory}/{patch_ref['path']}: target {wanted}"
            objects[matches[0]] = strategic_merge(objects[matches[0]], patch)
    namespace = kustomization.get("namespace")
    for obj in objects:
        if namespace and obj["kind"] not in CLUSTER_SCOPED:
            obj["metadata"]["namespace"] = namespace
        for label in kustomization.get("labels", []):
            assert not label.get("includeSelectors") and not label.get("includeTemplates")
            obj["metadata"].setdefault("labels", {}).update(label["pairs"])
        for image in kustomization.get("images", []):
            for container in containers(obj):
                name = re.split(r"[:@]", container["image"], maxsplit=1)[0]
                if name == image["name"]:
                    tag = image.get("newTag")
                    new = image.get("newName", name)
                    container["image"] = f"{new}:{tag}" if tag else new
    return objects


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    name: str = request.param
    return name, render(K8S / "overlays" / name)


def one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def container(objects: list[dict[str, Any]], deployment: str) -> dict[str, Any]:
    (main,) = one(objects, "Deployment", deployment)["spec"]["template"]["spec"]["containers"]
    return main


def env_of(main: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in main.get("env", [])}


def settings_map(objects: list[dict[str, Any]]) -> dict[str, str]:
    data: dict[str, str] = one(objects, "ConfigMap", "eco2-settings")["data"]
    return data


# --- Kubernetes -----------------------------------------------------------------------------


def test_every_manifest_parses_into_objects() -> None:
    files = manifest_files()
    assert files
    for path in files:
        for doc in docs(path):
            assert isinstance(doc, dict), path
            if path.name == "kustomization.yaml":
                assert doc["kind"] == "Kustomization", path
                for entry in doc.get("resources", []) + [p["path"] for p in doc.get("patches", [])]:
                    assert (path.parent / entry).exists(), (path, entry)
            else:
                assert {"apiVersion", "kind", "metadata"} <= doc.keys(), path
                assert doc["metadata"]["name"], path


def test_render_merges_named_lists_and_replaces_others() -> None:
    base = {"c": [{"name": "a", "env": [{"name": "X", "value": "1"}]}], "p": [1, 2], "k": 1}
    patch = {"c": [{"name": "a", "env": [{"name": "Y", "value": "2"}]}], "p": [3], "k": None}
    assert strategic_merge(base, patch) == {
        "c": [{"name": "a", "env": [{"name": "Y", "value": "2"}, {"name": "X", "value": "1"}]}],
        "p": [3],
    }
    assert base["c"][0]["env"] == [{"name": "X", "value": "1"}]
    replaced = strategic_merge(base, {"c": [{"name": "a", "env": [{"name": "X", "value": "3"}]}]})
    assert replaced["c"][0]["env"] == [{"name": "X", "value": "3"}]


@pytest.mark.parametrize("name", OVERLAYS)
def test_python_render_matches_kubectl_kustomize(name: str) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        if os.environ.get("CI") == "true":
            pytest.fail("kubectl missing: scripts/ensure-system-deps.sh installs it")
        pytest.skip("kubectl not on PATH: run scripts/ensure-system-deps.sh")
    built = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / name)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr

    def key(obj: dict[str, Any]) -> tuple[str, str]:
        return obj["kind"], obj["metadata"]["name"]

    expected = sorted((o for o in yaml.safe_load_all(built.stdout) if o), key=key)
    assert sorted(render(K8S / "overlays" / name), key=key) == expected


def test_builtin_objects_match_the_kubernetes_schemas(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    name, objects = overlay
    checked = 0
    for obj in objects:
        if "." in group(obj["apiVersion"]) and not group(obj["apiVersion"]).endswith(".k8s.io"):
            continue  # a CRD: see test_custom_resources_have_their_required_fields
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name}: {obj['kind']}/{obj['metadata']['name']}: {exc.message}")
        checked += 1
    kinds = {o["kind"] for o in objects}
    wanted = {"Deployment", "Service", "ConfigMap", "HorizontalPodAutoscaler"}
    assert wanted | {"PodDisruptionBudget", "ServiceAccount", "Namespace"} <= kinds
    assert checked >= 10


def _labels_schema() -> dict[str, Any]:
    return {"type": "object", "additionalProperties": {"type": "string"}}


CRD_SCHEMAS: dict[str, dict[str, Any]] = {
    "ScaledObject": {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "spec": {
                "type": "object",
                "required": ["scaleTargetRef", "triggers"],
                "properties": {
                    "scaleTargetRef": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {"name": {"type": "string"}},
                    },
                    "minReplicaCount": {"type": "integer", "minimum": 0},
                    "maxReplicaCount": {"type": "integer", "minimum": 1},
                    "pollingInterval": {"type": "integer", "minimum": 1},
                    "cooldownPeriod": {"type": "integer", "minimum": 0},
                    "triggers": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["type", "metadata"],
                            "properties": {
                                "type": {"type": "string"},
                                "metadata": _labels_schema(),
                                "authenticationRef": {
                                    "type": "object",
                                    "required": ["name"],
                                },
                            },
                        },
                    },
                },
            }
        },
    },
    "TriggerAuthentication": {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "spec": {
                "type": "object",
                "required": ["secretTargetRef"],
                "properties": {
                    "secretTargetRef": {
                        "type": "array",
                        "minItems": 1,
                        "items": {"type": "object", "required": ["parameter", "name", "key"]},
                    }
                },
            }
        },
    },
    "ServiceMonitor": {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "spec": {
                "type": "object",
                "required": ["selector", "endpoints"],
                "properties": {
                    "selector": {
                        "type": "object",
                        "required": ["matchLabels"],
                        "properties": {"matchLabels": _labels_schema()},
                    },
                    "endpoints": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["port", "path"],
                            "properties": {
                                "port": {"type": "string"},
                                "path": {"const": "/metrics"},
                            },
                        },
                    },
                },
            }
        },
    },
    "PrometheusRule": {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "spec": {
                "type": "object",
                "required": ["groups"],
                "properties": {
                    "groups": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["name", "rules"],
                            "properties": {
                                "rules": {
                                    "type": "array",
                                    "minItems": 1,
                                    "items": {
                                        "type": "object",
                                        "required": ["expr"],
                                        "oneOf": [
                                            {"required": ["alert"]},
                                            {"required": ["record"]},
                                        ],
                                    },
                                }
                            },
                        },
                    }
                },
            }
        },
    },
}
CRD_API = {
    "ScaledObject": "keda.sh/v1alpha1",
    "TriggerAuthentication": "keda.sh/v1alpha1",
    "ServiceMonitor": "monitoring.coreos.com/v1",
    "PrometheusRule": "monitoring.coreos.com/v1",
}


def test_custom_resources_have_their_required_fields(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    name, objects = overlay
    seen = set()
    for obj in objects:
        if obj["kind"] in CRD_SCHEMAS:
            assert obj["apiVersion"] == CRD_API[obj["kind"]], obj["kind"]
            jsonschema.validate(obj, CRD_SCHEMAS[obj["kind"]])
            assert obj["metadata"].get("namespace"), f"{name}: {obj['kind']} without namespace"
            seen.add(obj["kind"])
    assert seen == set(CRD_SCHEMAS)


def test_worker_scales_on_the_job_queue_and_api_on_cpu(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    _, objects = overlay
    scaled = one(objects, "ScaledObject", "eco2-worker")["spec"]
    assert scaled["scaleTargetRef"]["name"] == "eco2-worker"
    one(objects, "Deployment", "eco2-worker")
    assert 1 <= scaled["minReplicaCount"] <= scaled["maxReplicaCount"]
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "rabbitmq"
    assert trigger["metadata"]["queueName"] == settings_map(objects)["ECO2_QUEUE"]
    assert trigger["metadata"]["mode"] == "QueueLength" and int(trigger["metadata"]["value"]) > 0
    auth = one(objects, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    assert {(r["parameter"], r["name"], r["key"]) for r in auth["spec"]["secretTargetRef"]} == {
        ("host", "eco2-connections", "ECO2_AMQP_URL")
    }
    assert "replicas" not in one(objects, "Deployment", "eco2-worker")["spec"]

    hpa = one(objects, "HorizontalPodAutoscaler", "eco2-api")["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "eco2-api",
    }
    assert 1 <= hpa["minReplicas"] <= hpa["maxReplicas"]
    (metric,) = hpa["metrics"]
    assert (
        metric["resource"]["name"] == "cpu"
        and metric["resource"]["target"]["type"] == "Utilization"
    )
    assert container(objects, "eco2-api")["resources"]["requests"]["cpu"]
    assert "replicas" not in one(objects, "Deployment", "eco2-api")["spec"]


def test_probes_resources_and_graceful_termination(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    name, objects = overlay
    grace = float(settings_map(objects)["ECO2_SHUTDOWN_GRACE_S"])
    worker_pod = one(objects, "Deployment", "eco2-worker")["spec"]["template"]["spec"]
    assert worker_pod["terminationGracePeriodSeconds"] >= grace + WORKER_DRAIN_MARGIN_S, name
    expected_args = {
        "eco2-api": ["api", "--host", "0.0.0.0", "--port", "8000"],
        "eco2-worker": ["worker"],
        "eco2-character-server": [
            *("character-server", "--host", "0.0.0.0"),
            *("--drain", "5", "--grace", "5"),
        ],
    }
    images = set()
    for deployment, args in expected_args.items():
        main = container(objects, deployment)
        assert main["args"] == args
        images.add(main["image"])
        assert main["readinessProbe"] and main["livenessProbe"], deployment
        resources = main["resources"]
        assert resources["requests"]["cpu"] and resources["requests"]["memory"], deployment
        assert resources["limits"]["memory"], deployment
        assert main["securityContext"]["allowPrivilegeEscalation"] is False
        pod = one(objects, "Deployment", deployment)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        ports = {p["name"]: p["containerPort"] for p in main["ports"]}
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            if probe in main:
                (action,) = [
                    main[probe][k] for k in ("httpGet", "tcpSocket", "grpc") if k in main[probe]
                ]
                assert action["port"] in set(ports) | set(ports.values()), (deployment, probe)
    assert len(images) == 1, "api, worker and character-server run the same image"
    character_pod = one(objects, "Deployment", "eco2-character-server")["spec"]["template"]
    assert character_pod["spec"]["terminationGracePeriodSeconds"] > 5 + 5  # drain + grace
    api = container(objects, "eco2-api")
    assert (api["readinessProbe"]["httpGet"]["path"], api["livenessProbe"]["httpGet"]["path"]) == (
        "/readyz",
        "/healthz",
    )
    worker = container(objects, "eco2-worker")
    settings = settings_map(objects)
    assert {p["containerPort"] for p in worker["ports"]} == {
        int(settings["ECO2_WORKER_METRICS_PORT"])
    }
    grpc = container(objects, "eco2-character-server")
    assert {p["containerPort"] for p in grpc["ports"]} == {
        int(settings["ECO2_CHARACTER_GRPC_PORT"])
    }


def test_pod_disruption_budgets_and_services_select_their_pods(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    _, objects = overlay
    pods = {
        o["metadata"]["name"]: (
            o["spec"]["template"]["metadata"]["labels"],
            {p["name"] for c in containers(o) for p in c.get("ports", [])},
        )
        for o in objects
        if o["kind"] == "Deployment"
    }

    def selected(selector: dict[str, str]) -> list[str]:
        return [name for name, (labels, _) in pods.items() if selector.items() <= labels.items()]

    budgets = [o for o in objects if o["kind"] == "PodDisruptionBudget"]
    assert {tuple(selected(b["spec"]["selector"]["matchLabels"])) for b in budgets} >= {
        ("eco2-api",),
        ("eco2-worker",),
    }
    for service in (o for o in objects if o["kind"] == "Service"):
        (target,) = selected(service["spec"]["selector"])
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in pods[target][1], (service["metadata"]["name"], port)


def test_service_monitors_scrape_api_and_worker_metrics_ports(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    _, objects = overlay
    services = [o for o in objects if o["kind"] == "Service"]
    scraped = {}
    for monitor in (o for o in objects if o["kind"] == "ServiceMonitor"):
        selector = monitor["spec"]["selector"]["matchLabels"]
        (service,) = [s for s in services if selector.items() <= s["metadata"]["labels"].items()]
        ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}
        for endpoint in monitor["spec"]["endpoints"]:
            scraped[service["metadata"]["name"]] = ports[endpoint["port"]]
    # The same endpoints as the compose stack's generated scrape config.
    config = docs(PROMETHEUS)[0]
    targets = {
        c["job_name"]: c["static_configs"][0]["targets"][0] for c in config["scrape_configs"]
    }
    assert scraped == {job: int(target.rsplit(":", 1)[1]) for job, target in targets.items()}


def test_langsmith_key_comes_from_its_secret_and_tracing_is_set_on_the_worker(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    _, objects = overlay
    env = env_of(container(objects, "eco2-worker"))
    assert env["LANGCHAIN_TRACING_V2"]["value"] == "true"
    assert env["LANGCHAIN_PROJECT"]["value"]
    assert env["LANGCHAIN_API_KEY"]["valueFrom"] == {
        # optional: without the Secret the worker runs untraced instead of failing to start
        "secretKeyRef": {
            "name": "langsmith-credentials",
            "key": "LANGCHAIN_API_KEY",
            "optional": True,
        }
    }
    for deployment in (o for o in objects if o["kind"] == "Deployment"):
        for main in containers(deployment):
            for item in main.get("env", []):
                assert "KEY" not in item["name"] or "valueFrom" in item, item["name"]
    # The sub-agents' provider keys, if a deployment has any, come from one optional Secret.
    sources = container(objects, "eco2-worker")["envFrom"]
    assert {"secretRef": {"name": "eco2-provider-keys", "optional": True}} in sources


def test_every_secret_and_config_map_reference_resolves(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    name, objects = overlay
    available: dict[tuple[str, str], set[str]] = {}
    for obj in objects:
        if obj["kind"] in {"Secret", "ConfigMap"}:
            keys = set(obj.get("data", {})) | set(obj.get("stringData", {}))
            available[(obj["kind"], obj["metadata"]["name"])] = keys
    if name == "prod":
        assert not any(kind == "Secret" for kind, _ in available), "prod secrets stay out of git"
        available |= {("Secret", secret): keys for secret, keys in EXTERNAL_SECRETS.items()}
    else:
        assert {s for k, s in available if k == "Secret"} == set(EXTERNAL_SECRETS)
    refs = []
    for deployment in (o for o in objects if o["kind"] == "Deployment"):
        for main in containers(deployment):
            for source in main.get("envFrom", []):
                for kind, field in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                    if field in source:
                        refs.append((kind, source[field]["name"], None))
            for item in main.get("env", []):
                for kind, field in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                    if field in item.get("valueFrom", {}):
                        ref = item["valueFrom"][field]
                        refs.append((kind, ref["name"], ref["key"]))
    for trigger_auth in (o for o in objects if o["kind"] == "TriggerAuthentication"):
        refs += [("Secret", r["name"], r["key"]) for r in trigger_auth["spec"]["secretTargetRef"]]
    assert refs
    for kind, ref_name, key in refs:
        assert (kind, ref_name) in available, f"{name}: {kind}/{ref_name} is missing"
        assert key is None or key in available[(kind, ref_name)], f"{name}: {ref_name}.{key}"


def test_overlays_differ_where_they_should(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    name, objects = overlay
    namespaces = {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"}
    (namespace,) = [o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"]
    assert namespaces == {namespace}
    image = container(objects, "eco2-api")["image"]
    assert re.fullmatch(r"[\w./-]+:[\w.-]+", image) and not image.endswith(":latest"), image
    assert settings_map(objects)["ECO2_ENV"] == name


# --- generated from one source --------------------------------------------------------------


def test_prometheus_rule_and_dashboard_are_generated_from_deploy_sources() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "eco2.entrypoints.cli.deploy_gen", "--root", str(ROOT), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    generated = {Path(p) for p in deploy_gen.render(deploy_gen.load_spec(DEPLOY / "slo.yaml"))}
    assert {p for p in generated if p.is_relative_to("deploy/k8s")} == {
        Path("deploy/k8s/base/prometheusrule.yaml"),
        Path("deploy/k8s/base/grafana-dashboard.yaml"),
    }


def test_manifests_carry_the_same_rules_and_dashboard(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    _, objects = overlay
    assert one(objects, "PrometheusRule", "eco2-alerts")["spec"] == docs(RULES)[0]
    board = one(objects, "ConfigMap", "eco2-grafana-dashboard")
    assert board["metadata"]["labels"]["grafana_dashboard"] == "1"
    (text,) = board["data"].values()
    assert text == DASHBOARD.read_text(encoding="utf-8")


def test_check_catches_hand_edits_of_the_k8s_copies(tmp_path: Path) -> None:
    shutil.copytree(DEPLOY, tmp_path / "deploy")
    args = ["--root", str(tmp_path), "--check"]
    assert deploy_gen.main(args) == 0
    for name, old, new in [
        ("prometheusrule.yaml", "> 100", "> 150"),
        ("grafana-dashboard.yaml", '"Active streams"', '"Streams"'),
    ]:
        edited = tmp_path / "deploy/k8s/base" / name
        original = edited.read_text(encoding="utf-8")
        assert old in original
        edited.write_text(original.replace(old, new), encoding="utf-8")
        assert deploy_gen.main(args) == 1
        edited.write_text(original, encoding="utf-8")
    assert deploy_gen.main(args) == 0


# --- environment ----------------------------------------------------------------------------


def settings_env_names() -> set[str]:
    """Every ``validation_alias`` of every settings class of the eco2 package."""
    for module in SETTINGS_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError:
            continue  # a settings module not written yet

    def subclasses(cls: type) -> Iterator[type]:
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    names: set[str] = set()
    classes = [c for c in subclasses(BaseSettings) if c.__module__.startswith("eco2.")]
    assert any(c.__name__ == "Settings" for c in classes)
    for cls in classes:
        for field in cls.model_fields.values():
            alias = field.validation_alias
            if alias is None:
                continue
            choices = getattr(alias, "choices", [alias])
            names |= {c for c in choices if isinstance(c, str)}
    return names


def env_literals() -> set[str]:
    """Variable names spelled as string literals in the modules that touch ``os.environ``
    (LangSmith, OpenTelemetry, logging, the gRPC server: read outside the settings classes)."""
    names = set()
    for path in sorted((ROOT / "src/eco2").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if "environ" not in text or NOT_ENV_READERS.search(path.as_posix()):
            continue
        tree = ast.parse(text)
        for node in ast.walk(tree):
            value = node.value if isinstance(node, ast.Constant) else None
            if isinstance(value, str) and re.fullmatch(ENV_NAME, value):
                names.add(value)
    return names


def env_example() -> tuple[dict[str, str], set[str]]:
    """``.env.example``: set variables, and variables documented on a commented line."""
    values: dict[str, str] = {}
    documented = set()
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if match := re.fullmatch(r"([A-Z][A-Z0-9_]*)=(.*)", line):
            assert match[1] not in values, f"{match[1]} set twice"
            values[match[1]] = match[2]
        elif match := re.fullmatch(r"# ?([A-Z][A-Z0-9_]*)=.*", line):
            documented.add(match[1])
        else:
            assert not line or line.startswith("#"), line
    return values, documented | set(values)


def test_every_env_var_the_code_reads_is_in_env_example() -> None:
    wanted = settings_env_names() | env_literals()
    assert {"ECO2_REDIS_URL", "ECO2_SHUTDOWN_GRACE_S", "OPENAI_API_KEY"} <= wanted
    assert {"LANGCHAIN_API_KEY", "LANGSMITH_OTEL_ENABLED", "OTEL_EXPORTER_OTLP_ENDPOINT"} <= wanted
    _, documented = env_example()
    assert not wanted - documented, f"missing from .env.example: {sorted(wanted - documented)}"
    assert not documented - wanted, f"not read by the code: {sorted(documented - wanted)}"


def test_env_example_has_dev_values_with_tracing_on() -> None:
    values, _ = env_example()
    assert values["ECO2_ENV"] == "dev"
    assert values["LANGCHAIN_TRACING_V2"] == "true"
    assert "dev" in values["LANGCHAIN_PROJECT"]
    assert values["LANGCHAIN_API_KEY"] == ""  # never a real key in git
    assert values["LANGSMITH_OTEL_ENABLED"] == "true" and values["OTEL_EXPORTER_OTLP_ENDPOINT"]
    assert not any(re.search(r"(sk-|lsv2_)[A-Za-z0-9]{8,}", v) for v in values.values())


def test_deploy_files_only_set_variables_the_code_reads() -> None:
    known = settings_env_names() | env_literals()
    compose = docs(COMPOSE)[0]
    names = set()
    for service in ("api", "worker", "character-server"):
        names |= set(compose["services"][service]["environment"])
    for overlay_name in OVERLAYS:
        objects = render(K8S / "overlays" / overlay_name)
        names |= set(settings_map(objects))
        for deployment in ("eco2-api", "eco2-worker", "eco2-character-server"):
            names |= set(env_of(container(objects, deployment)))
    # OTEL_EXPORTER_OTLP_PROTOCOL is read by the OTLP exporter itself.
    assert not names - known - {"OTEL_EXPORTER_OTLP_PROTOCOL"}, sorted(names - known)


# --- compose --------------------------------------------------------------------------------


def compose_env(service: dict[str, Any]) -> dict[str, str]:
    env: dict[str, str] = service["environment"]
    return env


def test_compose_stack_has_every_service_wired() -> None:
    compose = docs(COMPOSE)[0]
    services = compose["services"]
    assert set(services) == {
        "api",
        "worker",
        "character-server",
        "redis",
        "rabbitmq",
        "postgres",
        "prometheus",
        "alertmanager",
        "grafana",
        "jaeger",
    }
    eco2 = {name: services[name] for name in ("api", "worker", "character-server")}
    assert len({(s["image"], json.dumps(s["build"], sort_keys=True)) for s in eco2.values()}) == 1
    assert (COMPOSE.parent / eco2["api"]["build"]["context"] / "Dockerfile").is_file()
    assert eco2["api"]["command"][:3] == ["api", "--host", "0.0.0.0"]
    assert eco2["worker"]["command"] == ["worker"]
    assert eco2["character-server"]["command"] == ["character-server", "--host", "0.0.0.0"]
    for name, service in eco2.items():
        env = compose_env(service)
        assert env["ECO2_REDIS_URL"].startswith("redis://redis:"), name
        assert env["ECO2_AMQP_URL"].startswith("amqp://") and "@rabbitmq:" in env["ECO2_AMQP_URL"]
        assert "@postgres:" in env["ECO2_DATABASE_URL"], name
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318", name
        assert env["LANGSMITH_OTEL_ENABLED"] == "true", name
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)
    worker_env = compose_env(eco2["worker"])
    assert worker_env["ECO2_CHARACTER_GRPC_TARGET"] == (
        f"character-server:{compose_env(eco2['character-server'])['ECO2_CHARACTER_GRPC_PORT']}"
    )
    grace = float(worker_env["ECO2_SHUTDOWN_GRACE_S"])
    assert int(eco2["worker"]["stop_grace_period"].rstrip("s")) >= grace + WORKER_DRAIN_MARGIN_S
    assert "4318:4318" in services["jaeger"]["ports"]


def test_compose_prometheus_and_grafana_use_the_deploy_files() -> None:
    services = docs(COMPOSE)[0]["services"]
    aliases = {
        alias
        for name in ("api", "worker")
        for alias in services[name]["networks"]["default"]["aliases"]
    }
    config = docs(PROMETHEUS)[0]
    hosts = {c["static_configs"][0]["targets"][0].split(":")[0] for c in config["scrape_configs"]}
    assert hosts <= aliases, "Prometheus scrape targets must resolve inside the stack"
    compose = docs(COMPOSE)[0]
    mounts: dict[str, dict[str, Path]] = {}
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith("."):  # a bind mount: the file or directory must exist
                mounts.setdefault(name, {})[target] = (COMPOSE.parent / source).resolve()
                assert mounts[name][target].exists(), (name, volume)
            else:
                assert source in compose["volumes"], (name, volume)
    assert mounts["prometheus"]["/etc/prometheus"] == PROMETHEUS.parent
    assert "--config.file=/etc/prometheus/prometheus.yml" in services["prometheus"]["command"]
    assert mounts["grafana"]["/etc/grafana/provisioning"] == DEPLOY / "grafana/provisioning"
    assert mounts["grafana"]["/var/lib/grafana/dashboards"] == DASHBOARD.parent
    assert mounts["alertmanager"]["/etc/alertmanager"] == ALERTMANAGER.parent
    # Prometheus 2.x: the SLO rules match `le` label values as strings (deploy/README.md).
    assert services["prometheus"]["image"].startswith("prom/prometheus:v2.")


def test_alertmanager_routes_the_rule_labels() -> None:
    config = docs(ALERTMANAGER)[0]
    receivers = {r["name"] for r in config["receivers"]}
    routes = config["route"]["routes"]
    assert config["route"]["receiver"] in receivers
    assert all(route["receiver"] in receivers for route in routes)
    matchers = {m for route in routes for m in route["matchers"]}
    labels = {
        f'{key}="{value}"'
        for group_ in docs(RULES)[0]["groups"]
        for rule in group_["rules"]
        for key, value in rule.get("labels", {}).items()
        if key in {"notify", "severity"}
    }
    assert {'notify="page"', 'notify="ticket"'} <= labels & matchers
    amtool = shutil.which("amtool")
    if amtool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("amtool missing: scripts/ensure-system-deps.sh installs it")
        pytest.skip("amtool not found: run scripts/ensure-system-deps.sh")
    result = subprocess.run(
        [amtool, "check-config", str(ALERTMANAGER)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- image ----------------------------------------------------------------------------------


def dockerfile_stages() -> list[list[dockerfile.Command]]:
    """The Dockerfile's instructions, by stage, as BuildKit's own parser reads them."""
    stages: list[list[dockerfile.Command]] = []
    for command in dockerfile.parse_file(str(DOCKERFILE)):
        if command.cmd == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(command)
    return stages


def heredoc_script() -> str:
    """The body of the health-check script the Dockerfile writes with a heredoc."""
    (copy_,) = [
        c
        for s in dockerfile_stages()
        for c in s
        if c.cmd == "COPY" and c.value[-1] == "/usr/local/bin/eco2-healthcheck"
    ]
    lines = DOCKERFILE.read_text(encoding="utf-8").splitlines()
    body = lines[copy_.start_line : copy_.end_line - 1]  # between the COPY line and `PY`
    assert lines[copy_.end_line - 1] == "PY" and body[0].startswith("#!/opt/venv/bin/python")
    return "\n".join(body) + "\n"


def test_dockerfile_is_multi_stage_slim_and_non_root() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2
    builder, final = stages[0], stages[-1]
    assert builder[0].value[-2:] == ("AS", "builder")
    assert any("pip install ." in c.value[0] for c in builder if c.cmd == "RUN")
    assert re.fullmatch(r"python:\$\{PYTHON_VERSION\}-slim(-\w+)?", final[0].value[0])
    copies = [c for c in final if c.cmd == "COPY"]
    assert any(
        c.flags == ("--from=builder",) and c.value == ("/opt/venv", "/opt/venv") for c in copies
    )
    assert not any("build-essential" in " ".join(c.value) for c in final)
    users = [c.value[0] for c in final if c.cmd == "USER"]
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    (healthcheck,) = [c for c in final if c.cmd == "HEALTHCHECK"]
    assert healthcheck.value == ("CMD", "/usr/local/bin/eco2-healthcheck")
    assert any(c.flags == ("--chmod=0755",) and "eco2-healthcheck" in c.value[-1] for c in copies)
    by_cmd = {c.cmd: c.value for c in final}
    assert by_cmd["ENTRYPOINT"] == ("eco2",)
    assert by_cmd["CMD"][:3] == ("api", "--host", "0.0.0.0")
    assert set(by_cmd["EXPOSE"]) == {"8000", "9101", "50051"}


def test_healthcheck_script_probes_the_running_eco2_command(tmp_path: Path) -> None:
    script: dict[str, Any] = {"__name__": "eco2_healthcheck"}
    exec(compile(heredoc_script(), "eco2-healthcheck", "exec"), script)
    proc = tmp_path / "proc"
    # PID 1 is the eco2 console script run by Python; a non-numeric entry is skipped.
    argv = ["/opt/venv/bin/python", "/opt/venv/bin/eco2", "api", "--port", "8080"]
    (proc / "1").mkdir(parents=True)
    (proc / "1" / "cmdline").write_bytes(b"\x00".join(a.encode() for a in argv) + b"\x00")
    (proc / "self").mkdir()
    assert script["eco2_args"](proc) == ["api", "--port", "8080"]
    assert script["eco2_args"](tmp_path / "empty") == []
    target = script["target"]
    assert target(["api", "--host", "0.0.0.0", "--port", "8001"], {}) == (
        "http",
        "http://127.0.0.1:8001/healthz",
    )
    assert target(["serve", "--port=9000"], {})[1] == "http://127.0.0.1:9000/healthz"
    assert target(["worker"], {"ECO2_WORKER_METRICS_PORT": "9200"}) == (
        "http",
        "http://127.0.0.1:9200/healthz",
    )
    assert target(["character-server", "--host", "0.0.0.0"], {}) == ("tcp", 50051)
    assert target(["character-server"], {"ECO2_CHARACTER_GRPC_PORT": "50052"}) == ("tcp", 50052)
    assert target(["character-server", "--port", "50053"], {}) == ("tcp", 50053)
    assert target([], {}) is None

    class Healthy(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Healthy) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        port = server.server_address[1]
        try:
            assert script["probe"](target(["api", "--port", str(port)], {})) == 0
            assert script["probe"](("tcp", port)) == 0
            assert script["probe"](target(["worker"], {"ECO2_WORKER_METRICS_PORT": str(port)})) == 0
            with pytest.raises(urllib.error.HTTPError):
                script["probe"](("http", f"http://127.0.0.1:{port}/metrics"))
        finally:
            server.shutdown()
            thread.join()
    with pytest.raises(OSError):
        script["probe"](("tcp", port))


def test_dockerignore_sends_only_the_build_inputs() -> None:
    lines = [
        line
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == "*"
    kept = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert {"pyproject.toml", "README.md", "src"} <= kept
    assert not kept & {".env", ".venv", "tests", ".git"}


def requirement_closure(requirements: list[str]) -> set[str]:
    """Normalised names of ``requirements`` and everything they pull in (installed metadata)."""
    seen: set[str] = set()
    todo = [(Requirement(r), frozenset[str]()) for r in requirements]
    while todo:
        requirement, _ = todo.pop()
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        extras = frozenset(requirement.extras)
        key = f"{name}[{','.join(sorted(extras))}]"
        if key in seen:
            continue
        seen |= {key, name}
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        for text in dist.requires or []:
            child = Requirement(text)
            marker_env = default_environment()
            wanted = not child.marker or any(
                child.marker.evaluate({**marker_env, "extra": extra}) for extra in extras | {""}
            )
            if wanted:
                todo.append((child, frozenset()))
    return {key for key in seen if "[" not in key}


def test_the_image_installs_every_package_the_code_imports() -> None:
    """``pip install .`` in the image installs pyproject's dependencies only (no dev extras):
    every third-party module imported under src/ must come from one of them."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    declared = project["project"]["dependencies"] + project["build-system"]["requires"]
    closure = requirement_closure(declared)
    providers = importlib.metadata.packages_distributions()
    missing = {}
    for path in sorted((ROOT / "src/eco2").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top == "eco2":
                    continue
                dists = {re.sub(r"[-_.]+", "-", d).lower() for d in providers.get(top, [top])}
                if not dists & closure:
                    missing.setdefault(top, sorted(dists))
    assert not missing, f"imported but not a dependency in pyproject.toml: {missing}"
