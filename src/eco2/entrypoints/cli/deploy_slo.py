"""The SLO file ``deploy/slo.yaml`` (DESIGN.md §5): its model, loader and PromQL helpers.

It is the single source of every threshold in the generated alert rules and dashboard
(see ``deploy_gen``). Pure Python and PyYAML; no I/O beyond reading the one file.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PERCENTILES = ("p50", "p95", "p99")
_DURATION = re.compile(r"^(\d+)([smhd])$")
_SECONDS_PER_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True, slots=True)
class Objective:
    """A burn-rate objective: ``target`` of events at or under one percentile's threshold."""

    percentile: str
    target: float


@dataclass(frozen=True, slots=True)
class Slo:
    """One row of the SLO table and the histogram it is measured on.

    Attributes:
        name: Identifier used in rule labels (``intent_classification``).
        feature: The SLO table's wording (``intent classification``).
        metric: Histogram base name (without ``_bucket``/``_count``).
        selector: Equality label matchers selecting the feature's series.
        thresholds: Seconds per percentile (``p50``, ``p95``, ``p99``).
        objectives: Burn-rate objectives.
    """

    name: str
    feature: str
    metric: str
    selector: tuple[tuple[str, str], ...]
    thresholds: dict[str, float]
    objectives: tuple[Objective, ...]


@dataclass(frozen=True, slots=True)
class BurnWindow:
    """A multi-window burn-rate alert: long and short windows at one budget-burn factor."""

    name: str
    long_window: str
    short_window: str
    factor: float
    severity: str
    notify: str


@dataclass(frozen=True, slots=True)
class StreamAlert:
    """A threshold alert: a histogram quantile (``quantile`` set) or a summed gauge."""

    name: str
    metric: str
    quantile: float | None
    rate_window: str
    threshold: float
    for_: str
    severity: str
    summary: str


@dataclass(frozen=True, slots=True)
class DeploySpec:
    """Everything ``deploy/slo.yaml`` declares."""

    compliance_window: str
    slos: tuple[Slo, ...]
    burn_windows: tuple[BurnWindow, ...]
    alerts: tuple[StreamAlert, ...]

    def slo(self, name: str) -> Slo:
        """Return the SLO called ``name``.

        Raises:
            KeyError: No SLO has that name.
        """
        for slo in self.slos:
            if slo.name == name:
                return slo
        raise KeyError(name)


def duration_seconds(text: str) -> int:
    """Return the seconds of a Prometheus duration with one unit (``5m``, ``6h``, ``30d``).

    Raises:
        ValueError: ``text`` is not such a duration.
    """
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration like 5m/1h/30d: {text!r}")
    return int(match[1]) * _SECONDS_PER_UNIT[match[2]]


def le_label(value: float) -> str:
    """Format a bucket bound as prometheus_client writes ``le`` (``0.5``, ``1.0``, ``10.0``).

    Prometheus 2.x matches ``le`` as a string, so ``le="1"`` would miss ``le="1.0"``.
    """
    if math.isinf(value):
        return "+Inf"
    text = repr(float(value))
    dot = text.find(".")
    if value > 0 and dot > 6:  # Go switches to an exponent sooner than Python.
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+0{dot - 1}"
    return text


def number(value: float) -> str:
    """Format a number for PromQL and prose: ``30``, ``0.05``, ``14.4``."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def human_seconds(value: float) -> str:
    """Format seconds for people: ``50 ms``, ``2 s``."""
    return f"{number(round(value * 1000, 6))} ms" if value < 1 else f"{number(value)} s"


def matchers(selector: tuple[tuple[str, str], ...], **extra: str) -> str:
    """Render label matchers as ``{a="x",le="0.5"}``, or ``""`` when there are none."""
    pairs = [*selector, *extra.items()]
    return "{" + ",".join(f'{k}="{v}"' for k, v in pairs) + "}" if pairs else ""


def load_spec(path: Path) -> DeploySpec:
    """Read and validate ``deploy/slo.yaml``.

    Args:
        path: The SLO file.

    Returns:
        The validated specification.

    Raises:
        ValueError: The file is malformed or inconsistent (with the reason).
    """
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict) or raw.get("version") != 1:
        raise ValueError(f"{path}: expected a mapping with version: 1")
    try:
        return _parse(raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {type(exc).__name__}: {exc}") from exc


def _parse(raw: dict[str, Any]) -> DeploySpec:
    window = str(raw["compliance_window"])
    duration_seconds(window)
    slos = tuple(_parse_slo(item) for item in raw["slos"])
    if len({s.name for s in slos}) != len(slos):
        raise ValueError("SLO names must be unique")
    windows = tuple(
        BurnWindow(
            name=str(w["name"]),
            long_window=str(w["long_window"]),
            short_window=str(w["short_window"]),
            factor=float(w["factor"]),
            severity=str(w["severity"]),
            notify=str(w["notify"]),
        )
        for w in raw["burn_rate_alerts"]
    )
    for w in windows:
        if duration_seconds(w.short_window) >= duration_seconds(w.long_window):
            raise ValueError(f"burn window {w.name}: short window must be shorter than long")
        for slo in slos:
            for o in slo.objectives:
                if w.factor * (1 - o.target) >= 1:
                    raise ValueError(f"{slo.name}: {w.name} burn can never fire at {o.target}")
    spec = DeploySpec(window, slos, windows, ())
    alerts = tuple(_parse_alert(item, spec) for item in raw["alerts"])
    return DeploySpec(window, slos, windows, alerts)


def _parse_slo(item: dict[str, Any]) -> Slo:
    thresholds = {p: float(item["thresholds"][p]) for p in PERCENTILES}
    if set(item["thresholds"]) != set(PERCENTILES):
        raise ValueError(f"{item['name']}: thresholds must be exactly {PERCENTILES}")
    if not 0 < thresholds["p50"] <= thresholds["p95"] <= thresholds["p99"]:
        raise ValueError(f"{item['name']}: thresholds must be positive and ascending")
    objectives = tuple(
        Objective(str(o["percentile"]), float(o["target"])) for o in item["objectives"]
    )
    for o in objectives:
        if o.percentile not in PERCENTILES or not 0 < o.target < 1:
            raise ValueError(f"{item['name']}: bad objective {o}")
    selector = tuple((str(k), str(v)) for k, v in (item.get("selector") or {}).items())
    return Slo(
        name=str(item["name"]),
        feature=str(item["feature"]),
        metric=str(item["metric"]),
        selector=selector,
        thresholds=thresholds,
        objectives=objectives,
    )


def _parse_alert(item: dict[str, Any], spec: DeploySpec) -> StreamAlert:
    ref = item["threshold"]
    if isinstance(ref, dict):
        threshold = spec.slo(str(ref["slo"])).thresholds[str(ref["percentile"])]
    else:
        threshold = float(ref)
    quantile = item.get("quantile")
    window = str(item.get("rate_window", "5m"))
    duration_seconds(window)
    duration_seconds(str(item["for"]))
    return StreamAlert(
        name=str(item["name"]),
        metric=str(item["metric"]),
        quantile=None if quantile is None else float(quantile),
        rate_window=window,
        threshold=threshold,
        for_=str(item["for"]),
        severity=str(item["severity"]),
        summary=str(item["summary"]),
    )
