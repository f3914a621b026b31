"""``promtool test rules`` unit tests for the generated rules, derived from ``deploy/slo.yaml``.

Every alert gets a case where it fires and one where it stays quiet:

* stream quantile alerts: observations just above the threshold (pending, then firing after
  ``for``) against observations well under it; the gauge alert one above its threshold against
  exactly at it;
* burn-rate alerts, every SLO in each scenario: a healthy error ratio (half the slowest tier's
  limit, plus an all-bad series under another label value that the SLO's selector must ignore),
  one scenario per tier burning between that tier's limit and the next one's (that tier and
  slower ones fire; all-good noise this time), a spike that fills the fastest tier's short window
  but not its long one (that tier stays quiet), and a recovered burst (every long window still
  bad, the short windows of the fast tiers clean again, so only the tiers whose short window still
  sees the burst fire).
"""

from __future__ import annotations

from typing import Any

from eco2.entrypoints.cli.deploy_rules import (
    GOOD_RATIO,
    burn_alert_annotations,
    burn_alert_labels,
    burn_alert_name,
    stream_alert_annotations,
)
from eco2.entrypoints.cli.deploy_slo import (
    BurnWindow,
    DeploySpec,
    Objective,
    Slo,
    StreamAlert,
    duration_seconds,
    le_label,
    matchers,
    number,
)

PER_MINUTE = 1000  # events per minute in burn scenarios
SOURCE = {"job": "eco2-worker"}
RULES_FILE = "../rules/eco2-alerts.yaml"


def _minutes(duration: str) -> int:
    return duration_seconds(duration) // 60


def _series(metric: str, labels: dict[str, str], values: str) -> dict[str, str]:
    return {"series": metric + matchers(tuple(labels.items())), "values": values}


def _stream_cases(alert: StreamAlert) -> list[dict[str, Any]]:
    first_true = 0 if alert.quantile is None else 1  # a rate needs two samples
    early = first_true + _minutes(alert.for_) - 1
    late = first_true + _minutes(alert.for_) + 4
    length = late + 5
    Case = tuple[str, list[dict[str, str]], list[dict[str, Any]]]
    cases: tuple[Case, Case]
    firing = {
        "exp_labels": {"severity": alert.severity},
        "exp_annotations": stream_alert_annotations(alert),
    }
    if alert.quantile is None:
        above = [_series(alert.metric, SOURCE, f"{number(alert.threshold + 1)}x{length}")]
        at = [_series(alert.metric, SOURCE, f"{number(alert.threshold)}x{length}")]
        cases = (("just above", above, [firing]), ("exactly at", at, []))
    else:
        bounds = [alert.threshold / 2, alert.threshold, alert.threshold * 2, float("inf")]
        labels = {**SOURCE, "node": "answer"}

        def histogram(first_filled: int) -> list[dict[str, str]]:
            return [
                _series(
                    f"{alert.metric}_bucket",
                    {**labels, "le": le_label(bound)},
                    f"0+{PER_MINUTE}x{length}" if i >= first_filled else f"0x{length}",
                )
                for i, bound in enumerate(bounds)
            ]

        cases = (("above", histogram(2), [firing]), ("well under", histogram(0), []))
    tests = []
    for name, series, expected in cases:
        checks = [{"eval_time": f"{late}m", "alertname": alert.name, "exp_alerts": expected}]
        if expected:
            checks.insert(0, {"eval_time": f"{early}m", "alertname": alert.name, "exp_alerts": []})
        tests.append(
            {
                "name": f"{alert.name}: {name} the threshold {number(alert.threshold)}",
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": checks,
            }
        )
    return tests


def _limit(window: BurnWindow, objective: Objective) -> float:
    return window.factor * (1 - objective.target)


def _burn_series(slo: Slo, objective: Objective, good: str, total: str) -> list[dict[str, str]]:
    labels = {**SOURCE, **dict(slo.selector)}
    le = le_label(slo.thresholds[objective.percentile])
    return [
        _series(f"{slo.metric}_bucket", {**labels, "le": le}, good),
        _series(f"{slo.metric}_count", labels, total),
    ]


def _burn_checks(
    slo: Slo, objective: Objective, spec: DeploySpec, at: int, firing: set[str]
) -> list[dict[str, Any]]:
    checks = []
    for window in spec.burn_windows:
        expected = []
        if window.name in firing:
            labels = {
                **burn_alert_labels(slo, objective, window),
                "slo": slo.name,
                "objective": objective.percentile,
            }
            annotations = burn_alert_annotations(slo, objective, window, spec)
            expected = [{"exp_labels": labels, "exp_annotations": annotations}]
        checks.append(
            {
                "eval_time": f"{at}m",
                "alertname": burn_alert_name(slo, window),
                "exp_alerts": expected,
            }
        )
    return checks


def _steady(
    slo: Slo, objective: Objective, error_ratio: float, minutes: int
) -> list[dict[str, str]]:
    good = f"0+{number(round(PER_MINUTE * (1 - error_ratio), 3))}x{minutes}"
    return _burn_series(slo, objective, good, f"0+{PER_MINUTE}x{minutes}")


Scenario = dict[str, Any]  # input_series, alert_rule_test and promql_expr_test of one scenario


def _burn_cases(slo: Slo, objective: Objective, spec: DeploySpec) -> dict[str, Scenario]:
    """One SLO objective's part of each burn scenario, by scenario name."""
    by_factor = sorted(spec.burn_windows, key=lambda w: w.factor)
    shorts = sorted({_minutes(w.short_window) for w in spec.burn_windows})
    at = shorts[-1] + 1  # steady rates: every short window full, long ones extrapolated
    le = le_label(slo.thresholds[objective.percentile])
    cases: dict[str, Scenario] = {}

    def add(name: str, series: list[dict[str, str]], when: int, firing: set[str]) -> Scenario:
        checks = _burn_checks(slo, objective, spec, when, firing)
        cases[name] = {"input_series": series, "alert_rule_test": checks, "promql_expr_test": []}
        return cases[name]

    def noise(good: bool) -> list[dict[str, str]]:
        """Series under another label value, all fast or all slow, the selector must ignore."""
        if not slo.selector:
            return []
        other = {**SOURCE, **{key: "other" for key, _ in slo.selector}}
        total = f"0+{PER_MINUTE}x{at}"
        bucket = _series(f"{slo.metric}_bucket", {**other, "le": le}, total if good else f"0x{at}")
        return [bucket, _series(f"{slo.metric}_count", other, total)]

    ratio = _limit(by_factor[0], objective) / 2
    name = f"error ratio at half the {by_factor[0].name} burn limit"
    add(name, _steady(slo, objective, ratio, at) + noise(good=False), at, set())
    for i, tier in enumerate(by_factor):
        upper = _limit(by_factor[i + 1], objective) if i + 1 < len(by_factor) else 1.0
        ratio = (_limit(tier, objective) + upper) / 2
        name = f"error ratio above the {tier.name} burn limit"
        if i + 1 < len(by_factor):
            name += f", under the {by_factor[i + 1].name} one"
        firing = {w.name for w in by_factor[: i + 1]}
        add(name, _steady(slo, objective, ratio, at) + noise(good=True), at, firing)

    fastest = by_factor[-1]  # a spike that fills its short window but not its long one
    end, spike = _minutes(fastest.long_window), _minutes(fastest.short_window) + 1
    good = f"0+{PER_MINUTE}x{end - spike} {PER_MINUTE * (end - spike)}x{spike - 1}"
    series = _burn_series(slo, objective, good, f"0+{PER_MINUTE}x{end}")

    def error_ratio(window: str) -> float:
        minutes = _minutes(window)
        return min(spike, minutes) / min(minutes, end)

    firing = {
        w.name
        for w in spec.burn_windows
        if min(error_ratio(w.long_window), error_ratio(w.short_window)) > _limit(w, objective)
    }
    add(f"all fast, then all slow for the last {spike}m", series, end, firing)

    if len(shorts) > 1:  # all bad, then clean for longer than the shortest short window
        gap, burst = (shorts[0] + shorts[1]) // 2, shorts[-1]
        good = f"0x{burst} {PER_MINUTE}+{PER_MINUTE}x{gap - 1}"
        series = _burn_series(slo, objective, good, f"0+{PER_MINUTE}x{burst + gap}")
        firing = {w.name for w in spec.burn_windows if _minutes(w.short_window) > gap}
        name = f"all slow for {burst}m, then all fast for {gap}m"
        scenario = add(name, series, burst + gap, firing)
        record = GOOD_RATIO.format(window=f"{shorts[0]}m")
        labels = (("objective", objective.percentile), ("slo", slo.name))
        scenario["promql_expr_test"].append(
            {
                "expr": record + matchers(labels),
                "eval_time": f"{burst + gap}m",
                "exp_samples": [{"labels": record + matchers(labels), "value": 1}],
            }
        )
    return cases


def _merge(parts: list[dict[str, Scenario]]) -> list[dict[str, Any]]:
    """One test group per scenario with every SLO's series and checks.

    The SLOs' selectors keep their series apart; series that several SLOs share (the "other"
    noise under one histogram) appear once. One group per scenario rather than per SLO keeps
    ``promtool test rules`` fast: each group re-evaluates every rule at every step.

    Raises:
        ValueError: Two SLOs need the same series with different values.
    """
    merged: dict[str, dict[str, Any]] = {}
    for part in parts:
        for name, scenario in part.items():
            empty: dict[str, list[Any]] = {
                "input_series": [],
                "alert_rule_test": [],
                "promql_expr_test": [],
            }
            group = merged.setdefault(
                name, {"name": f"every SLO: {name}", "interval": "1m", **empty}
            )
            known = {s["series"]: s["values"] for s in group["input_series"]}
            for series in scenario["input_series"]:
                if known.get(series["series"], series["values"]) != series["values"]:
                    raise ValueError(f"conflicting test series {series['series']}")
                if series["series"] not in known:
                    group["input_series"].append(series)
            for check in scenario["alert_rule_test"]:  # an SLO's objectives share alert names
                _add_check(group["alert_rule_test"], check)
            group["promql_expr_test"] += scenario["promql_expr_test"]
    return [{k: v for k, v in g.items() if v != []} for g in merged.values()]


def _add_check(checks: list[dict[str, Any]], check: dict[str, Any]) -> None:
    """Add ``check``, or its expected alerts to the check of the same alert at the same time
    (promtool compares the whole list of an alert's instances)."""
    for known in checks:
        if (known["alertname"], known["eval_time"]) == (check["alertname"], check["eval_time"]):
            known["exp_alerts"] += check["exp_alerts"]
            return
    checks.append({**check, "exp_alerts": list(check["exp_alerts"])})


def rule_tests(spec: DeploySpec) -> dict[str, Any]:
    """The ``promtool test rules`` file for ``deploy/prometheus/rules/eco2-alerts.yaml``.

    Args:
        spec: The loaded ``deploy/slo.yaml``.

    Returns:
        The test document (``rule_files`` relative to the test file's directory).
    """
    tests: list[dict[str, Any]] = []
    for alert in spec.alerts:
        tests.extend(_stream_cases(alert))
    parts = [_burn_cases(slo, o, spec) for slo in spec.slos for o in slo.objectives]
    tests.extend(_merge(parts))
    return {"rule_files": [RULES_FILE], "evaluation_interval": "1m", "tests": tests}
