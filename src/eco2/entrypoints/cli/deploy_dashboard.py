"""Grafana dashboard "Chat Worker Token Streaming", generated from ``deploy/slo.yaml``.

Panels follow DESIGN.md §5: four stats (active streams, tokens/s by node, P95 token latency,
P95 stream duration), then token emission rate by node, stream duration distribution, tokens per
stream, recovery attempts, requests by intent, latency against each SLO of the SLO table,
per-node and per-sub-agent latency, errors, queue wait, time to first token and RAG feedback.
Stat thresholds are the stream alerts' thresholds (and the token-emission P95 SLO); SLO panels
draw the SLO's P50/P95/P99 thresholds as dashed lines.
"""

from __future__ import annotations

from typing import Any

from eco2.entrypoints.cli.deploy_grafana import (
    Panel,
    envelope,
    heatmap,
    quantile,
    stat,
    steps,
    sum_rate,
    target,
    timeseries,
)
from eco2.entrypoints.cli.deploy_rules import DASHBOARD_UID, GENERATED_BY
from eco2.entrypoints.cli.deploy_slo import (
    PERCENTILES,
    DeploySpec,
    Slo,
    StreamAlert,
    human_seconds,
    matchers,
    number,
)

TITLE = "Chat Worker Token Streaming"
TOKEN_LATENCY = "chat_stream_token_latency_seconds"
STREAM_DURATION = "chat_stream_duration_seconds"
ACTIVE = "chat_stream_active"
PERCENTILE_COLORS = {"p50": "green", "p95": "orange", "p99": "red"}


def slo_panel(slo: Slo) -> Panel:
    """P50/P95/P99 of the SLO's histogram with its three thresholds as dashed lines."""
    selector = matchers(slo.selector)
    queries = [
        target(quantile(int(p[1:]) / 100, slo.metric, selector), p.upper()) for p in PERCENTILES
    ]
    lines = steps(
        *((PERCENTILE_COLORS[p], slo.thresholds[p]) for p in PERCENTILES), base="transparent"
    )
    overrides = [
        {
            "matcher": {"id": "byName", "options": p.upper()},
            "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": color}}],
        }
        for p, color in PERCENTILE_COLORS.items()
    ]
    limits = ", ".join(f"{p.upper()} {human_seconds(slo.thresholds[p])}" for p in PERCENTILES)
    description = (
        f"P50/P95/P99 of {slo.metric}{selector}. Dashed lines: the SLO thresholds from "
        f"deploy/slo.yaml ({limits})."
    )
    return timeseries(
        f"SLO: {slo.feature}", description, queries, "s", thresholds=lines, overrides=overrides
    )


def _alert(spec: DeploySpec, metric: str) -> StreamAlert:
    return next(a for a in spec.alerts if a.metric == metric)


def stats(spec: DeploySpec) -> list[Panel]:
    """The top row: active streams, tokens/s by node, P95 token latency, P95 stream duration."""
    token_slo = next(s for s in spec.slos if s.metric == TOKEN_LATENCY)
    token, duration = _alert(spec, TOKEN_LATENCY), _alert(spec, STREAM_DURATION)
    active = _alert(spec, ACTIVE)
    token_p95 = quantile(0.95, TOKEN_LATENCY, window=token.rate_window)
    duration_p95 = quantile(0.95, STREAM_DURATION, window=duration.rate_window)
    return [
        stat(
            "Active streams",
            f"{ACTIVE}; red from the alert threshold ({number(active.threshold)}).",
            target(f"sum({ACTIVE})", "active"),
            "short",
            steps(("red", active.threshold)),
        ),
        stat(
            "Tokens/s by node",
            "Rate of chat_stream_tokens_total by node.",
            target(sum_rate("chat_stream_tokens_total", "node"), "{{node}}"),
            "short",
        ),
        stat(
            "P95 token latency",
            f"Model → durable in the event stream, per token, over {token.rate_window}. Yellow "
            f"from the P95 SLO ({human_seconds(token_slo.thresholds['p95'])}), red from the "
            f"alert threshold ({human_seconds(token.threshold)}).",
            target(token_p95, "P95"),
            "s",
            steps(("yellow", token_slo.thresholds["p95"]), ("red", token.threshold)),
        ),
        stat(
            "P95 stream duration",
            f"Over {duration.rate_window}; red from the alert threshold "
            f"({human_seconds(duration.threshold)}).",
            target(duration_p95, "P95"),
            "s",
            steps(("red", duration.threshold)),
        ),
    ]


def _by(metric: str, by: str, legend: str, **extra: Any) -> dict[str, Any]:
    return target(sum_rate(metric, by, extra.pop("selector", "")), legend, **extra)


def _p95_by(metric: str, label: str) -> dict[str, Any]:
    return target(quantile(0.95, metric, by=label), "{{" + label + "}}")


def _percentiles(metric: str, *qs: float, by: str = "") -> list[dict[str, Any]]:
    suffix = f" {{{{{by}}}}}" if by else ""
    return [target(quantile(q, metric, by=by), f"P{number(q * 100)}{suffix}") for q in qs]


def panels(spec: DeploySpec) -> list[Panel]:
    """The dashboard's panels in DESIGN.md §5 order, before ids and positions are assigned."""
    return [
        *stats(spec),
        timeseries(
            "Token emission rate by node",
            "Tokens per second by node (chat_stream_tokens_total).",
            [_by("chat_stream_tokens_total", "node", "{{node}}")],
            "short",
        ),
        heatmap(
            "Stream duration distribution",
            "Streams per duration bucket (chat_stream_duration_seconds).",
            STREAM_DURATION,
            "s",
        ),
        timeseries(
            "Tokens per stream",
            "chat_stream_token_count percentiles by node.",
            _percentiles("chat_stream_token_count", 0.5, 0.95, by="node"),
            "short",
        ),
        timeseries(
            "Stream recovery attempts",
            "chat_stream_recovery_total by type (catch_up, snapshot) and status.",
            [_by("chat_stream_recovery_total", "type, status", "{{type}} {{status}}")],
            "ops",
            bars=True,
        ),
        timeseries(
            "Requests by intent",
            "chat_requests_total by intent and status.",
            [_by("chat_requests_total", "intent, status", "{{intent}} {{status}}")],
            "reqps",
        ),
        timeseries(
            "Request latency P95 by intent",
            "chat_request_duration_seconds for every intent; SLO panels below.",
            [_p95_by("chat_request_duration_seconds", "intent")],
            "s",
        ),
        *(slo_panel(slo) for slo in spec.slos),
        timeseries(
            "Node latency P95",
            "chat_node_duration_seconds by node.",
            [_p95_by("chat_node_duration_seconds", "node")],
            "s",
        ),
        timeseries(
            "Sub-agent latency P95",
            "chat_subagent_duration_seconds by sub-agent.",
            [_p95_by("chat_subagent_duration_seconds", "subagent")],
            "s",
        ),
        timeseries(
            "Errors",
            "chat_errors_total by intent and error type (failed and timed-out sub-agents too).",
            [_by("chat_errors_total", "intent, error_type", "{{intent}} {{error_type}}")],
            "ops",
        ),
        timeseries(
            "Sub-agent calls by status",
            "chat_subagent_calls_total: ok, empty and not_configured are answers; failed and "
            "timeout are errors.",
            [_by("chat_subagent_calls_total", "subagent, status", "{{subagent}} {{status}}")],
            "ops",
        ),
        timeseries(
            "Queue wait",
            "chat_queue_wait_seconds: enqueued → taken by a worker.",
            _percentiles("chat_queue_wait_seconds", 0.5, 0.95, 0.99),
            "s",
        ),
        timeseries(
            "Time to first token P95 by intent",
            "chat_time_to_first_token_seconds: job start → first answer token.",
            [_p95_by("chat_time_to_first_token_seconds", "intent")],
            "s",
        ),
        timeseries(
            "RAG feedback",
            "chat_rag_feedback_total by retrieval quality and fallback.",
            [_by("chat_rag_feedback_total", "quality, fallback", "{{quality}} {{fallback}}")],
            "ops",
            bars=True,
        ),
    ]


def dashboard(spec: DeploySpec) -> dict[str, Any]:
    """The importable dashboard JSON model (fixed uid, ``${datasource}`` variable, no inputs).

    Args:
        spec: The loaded ``deploy/slo.yaml``.

    Returns:
        The dashboard document.
    """
    description = f"Generated from deploy/slo.yaml by `{GENERATED_BY}`. Do not edit."
    return envelope(TITLE, DASHBOARD_UID, description, panels(spec))
