"""Prometheus rules generated from ``deploy/slo.yaml``: stream alerts and SLO burn-rate alerts.

Two groups. ``eco2-chat-streaming`` holds the stream alerts of DESIGN.md §5 (token latency,
stream duration, active streams). ``eco2-chat-slo`` records, per SLO objective and window, the
ratio of "good" events (at or under the objective's threshold) to all events::

    sum(rate(<metric>_bucket{<selector>,le="<threshold>"}[w]))
    / sum(rate(<metric>_count{<selector>}[w]))

and alerts when ``1 - ratio`` exceeds ``factor × (1 - target)`` over both the long and the short
window of a burn-rate tier (multi-window, multi-burn-rate). Recording and alerting rules share a
group so each alert reads the ratios recorded at the same evaluation.
"""

from __future__ import annotations

from typing import Any

import yaml

from eco2.entrypoints.cli.deploy_slo import (
    BurnWindow,
    DeploySpec,
    Objective,
    Slo,
    StreamAlert,
    duration_seconds,
    human_seconds,
    le_label,
    matchers,
    number,
)

GOOD_RATIO = "eco2:slo_good_ratio:rate{window}"
DASHBOARD_UID = "eco2-chat-token-streaming"
GENERATED_BY = "python -m eco2.entrypoints.cli.deploy_gen"


class _Dumper(yaml.SafeDumper):
    """Block style with indented sequences and ``|`` for multi-line strings."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        """Indent sequences nested in mappings (``indentless`` is ignored)."""
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        """Never write ``&anchors``: every rule reads on its own."""
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump_yaml(data: Any, source: str = "deploy/slo.yaml") -> str:
    """Render ``data`` as deterministic YAML under a do-not-edit header.

    Args:
        data: Plain dicts, lists, strings and numbers.
        source: What the file is generated from, for the header.

    Returns:
        The file's text.
    """
    header = f"# Generated from {source} by `{GENERATED_BY}`. Do not edit.\n"
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120, indent=2)
    return header + body


def camel(name: str) -> str:
    """``full_response_waste`` → ``FullResponseWaste``."""
    return "".join(part.capitalize() for part in name.split("_"))


def burn_alert_name(slo: Slo, window: BurnWindow) -> str:
    """Name of the burn-rate alert of ``slo`` for ``window`` (``ChatRagSearchBudgetBurnFast``)."""
    return f"Chat{camel(slo.name)}BudgetBurn{camel(window.name)}"


def ratio_windows(spec: DeploySpec) -> list[str]:
    """Every window a burn tier needs, shortest first."""
    windows = {w for tier in spec.burn_windows for w in (tier.long_window, tier.short_window)}
    return sorted(windows, key=duration_seconds)


def good_ratio_expr(slo: Slo, objective: Objective, window: str) -> str:
    """PromQL of the share of ``slo`` events at or under the objective's threshold."""
    le = le_label(slo.thresholds[objective.percentile])
    good = f"{slo.metric}_bucket{matchers(slo.selector, le=le)}"
    total = f"{slo.metric}_count{matchers(slo.selector)}"
    return f"sum(rate({good}[{window}]))\n/\nsum(rate({total}[{window}]))\n"


def stream_alert_expr(alert: StreamAlert) -> str:
    """PromQL of a stream alert: a histogram quantile or a summed gauge over its threshold."""
    if alert.quantile is None:
        return f"sum({alert.metric}) > {number(alert.threshold)}"
    rate = f"rate({alert.metric}_bucket[{alert.rate_window}])"
    quantile = f"histogram_quantile({number(alert.quantile)}, sum by (le) ({rate}))"
    return f"{quantile} > {number(alert.threshold)}"


def stream_alert_annotations(alert: StreamAlert) -> dict[str, str]:
    """Static annotations of a stream alert (static so ``promtool`` tests can match them)."""
    if alert.quantile is None:
        what = f"The sum of {alert.metric} has been above {number(alert.threshold)}"
    else:
        pct = number(alert.quantile * 100)
        what = (
            f"P{pct} of {alert.metric} over {alert.rate_window} has been above "
            f"{human_seconds(alert.threshold)}"
        )
    return {
        "summary": alert.summary,
        "description": f"{what} for {alert.for_}.",
        "dashboard": f"/d/{DASHBOARD_UID}",
    }


def burn_alert_annotations(
    slo: Slo, objective: Objective, window: BurnWindow, spec: DeploySpec
) -> dict[str, str]:
    """Static annotations of a burn-rate alert: what burns, how fast, when the budget is gone."""
    budget = number(round((1 - objective.target) * 100, 6))
    hours = duration_seconds(spec.compliance_window) / 3600 / window.factor
    threshold = human_seconds(slo.thresholds[objective.percentile])
    feature = slo.feature[:1].upper() + slo.feature[1:]
    return {
        "summary": (
            f"{feature} is burning its {spec.compliance_window} error budget "
            f"{number(window.factor)}x too fast"
        ),
        "description": (
            f"Over the last {window.long_window} and {window.short_window}, more than "
            f"{number(window.factor)} × {budget}% of {slo.feature} events took longer than "
            f"the {objective.percentile.upper()} threshold {threshold} "
            f"({slo.metric}{matchers(slo.selector)}). At this rate the "
            f"{spec.compliance_window} budget is spent in about {number(round(hours))}h."
        ),
        "dashboard": f"/d/{DASHBOARD_UID}",
    }


def burn_alert_expr(slo: Slo, objective: Objective, window: BurnWindow) -> str:
    """PromQL of a multi-window burn-rate alert on the recorded good ratios."""
    labels = matchers((("slo", slo.name), ("objective", objective.percentile)))
    limit = f"({number(window.factor)} * (1 - {number(objective.target)}))"
    long = f"(1 - {GOOD_RATIO.format(window=window.long_window)}{labels}) > {limit}"
    short = f"(1 - {GOOD_RATIO.format(window=window.short_window)}{labels}) > {limit}"
    return f"{long}\nand\n{short}\n"


def burn_alert_labels(slo: Slo, objective: Objective, window: BurnWindow) -> dict[str, str]:
    """Labels of a burn-rate alert (the recorded series add ``slo``; ``objective`` is static
    too, so that an SLO's objectives' rules of one alert name differ, as promtool's lint wants)."""
    return {
        "severity": window.severity,
        "notify": window.notify,
        "burn_window": window.name,
        "objective": objective.percentile,
    }


def alert_rules(spec: DeploySpec) -> dict[str, Any]:
    """The rule file: stream alerts, SLO good-ratio recordings and burn-rate alerts.

    Args:
        spec: The loaded ``deploy/slo.yaml``.

    Returns:
        The ``groups:`` document for Prometheus ``rule_files``.
    """
    stream = [
        {
            "alert": alert.name,
            "expr": stream_alert_expr(alert),
            "for": alert.for_,
            "labels": {"severity": alert.severity},
            "annotations": stream_alert_annotations(alert),
        }
        for alert in spec.alerts
    ]
    records: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    for slo in spec.slos:
        for objective in slo.objectives:
            labels = {"slo": slo.name, "objective": objective.percentile}
            records.extend(
                {
                    "record": GOOD_RATIO.format(window=window),
                    "expr": good_ratio_expr(slo, objective, window),
                    "labels": labels,
                }
                for window in ratio_windows(spec)
            )
            alerts.extend(
                {
                    "alert": burn_alert_name(slo, window),
                    "expr": burn_alert_expr(slo, objective, window),
                    "labels": burn_alert_labels(slo, objective, window),
                    "annotations": burn_alert_annotations(slo, objective, window, spec),
                }
                for window in spec.burn_windows
            )
    return {
        "groups": [
            {"name": "eco2-chat-streaming", "rules": stream},
            {"name": "eco2-chat-slo", "rules": records + alerts},
        ]
    }
