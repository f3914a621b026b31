"""Grafana JSON model builders (schemaVersion 39) for the generated dashboard.

Every panel and every target reads from the ``${datasource}`` template variable (a Prometheus
data-source variable), so the dashboard imports anywhere without ``__inputs``.
"""

from __future__ import annotations

from typing import Any

from eco2.entrypoints.cli.deploy_slo import number

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"
SCHEMA_VERSION = 39
Panel = dict[str, Any]


def value(x: float) -> int | float:
    """A JSON number: ``30`` rather than ``30.0``."""
    return int(x) if float(x).is_integer() else x


def target(expr: str, legend: str = "__auto", **extra: Any) -> dict[str, Any]:
    """A Prometheus query target (range query, code editor)."""
    return {
        "datasource": DATASOURCE,
        "editorMode": "code",
        "expr": expr,
        "legendFormat": legend,
        "range": True,
        **extra,
    }


def quantile(q: float, metric: str, selector: str = "", by: str = "", window: str = RATE) -> str:
    """``histogram_quantile`` of ``metric``'s buckets, optionally kept apart by label ``by``."""
    labels = ", ".join(["le", *([by] if by else [])])
    rate = f"rate({metric}_bucket{selector}[{window}])"
    return f"histogram_quantile({number(q)}, sum by ({labels}) ({rate}))"


def sum_rate(metric: str, by: str, selector: str = "") -> str:
    """Per-second rate of a counter, summed by the labels ``by``."""
    return f"sum by ({by}) (rate({metric}{selector}[{RATE}]))"


def steps(*colored: tuple[str, float], base: str = "green") -> dict[str, Any]:
    """Absolute thresholds: ``base`` below the first value, then each color from its value."""
    first: dict[str, Any] = {"color": base, "value": None}
    rest = [{"color": color, "value": value(x)} for color, x in colored]
    return {"mode": "absolute", "steps": [first, *rest]}


def stat(
    title: str,
    description: str,
    query: dict[str, Any],
    unit: str,
    thresholds: dict[str, Any] | None = None,
) -> Panel:
    """A stat panel (last value, sparkline); colored by ``thresholds`` when given."""
    color = {"mode": "thresholds" if thresholds else "palette-classic"}
    defaults = {"unit": unit, "color": color, "thresholds": thresholds or steps(), "mappings": []}
    options = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": "value",
        "graphMode": "area",
        "justifyMode": "auto",
        "orientation": "auto",
        "textMode": "auto",
        "wideLayout": True,
        "showPercentChange": False,
    }
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "gridPos": {"w": 6, "h": 4},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options,
        "targets": [query],
    }


def timeseries(
    title: str,
    description: str,
    queries: list[dict[str, Any]],
    unit: str,
    *,
    thresholds: dict[str, Any] | None = None,
    overrides: list[dict[str, Any]] | None = None,
    bars: bool = False,
) -> Panel:
    """A time-series panel; ``thresholds`` are drawn as dashed lines."""
    custom = {
        "drawStyle": "bars" if bars else "line",
        "lineWidth": 1,
        "fillOpacity": 80 if bars else 10,
        "showPoints": "never",
        "spanNulls": False,
        "thresholdsStyle": {"mode": "dashed" if thresholds else "off"},
    }
    defaults = {
        "unit": unit,
        "custom": custom,
        "color": {"mode": "palette-classic"},
        "thresholds": thresholds or steps(),
        "mappings": [],
    }
    legend = {"displayMode": "list", "placement": "bottom", "showLegend": True, "calcs": []}
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "gridPos": {"w": 12, "h": 8},
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": {"legend": legend, "tooltip": {"mode": "multi", "sort": "desc"}},
        "targets": queries,
    }


def heatmap(title: str, description: str, metric: str, unit: str) -> Panel:
    """A heatmap of a histogram's bucket increases (Prometheus buckets, not recalculated)."""
    expr = f"sum by (le) (increase({metric}_bucket[{RATE}]))"
    color = {
        "mode": "scheme",
        "scheme": "Oranges",
        "scale": "exponential",
        "exponent": 0.5,
        "steps": 64,
        "fill": "dark-orange",
    }
    options = {
        "calculate": False,
        "cellGap": 1,
        "yAxis": {"unit": unit},
        "color": color,
        "filterValues": {"le": 1e-9},
        "rowsFrame": {"layout": "auto"},
        "tooltip": {"mode": "single", "yHistogram": False},
        "legend": {"show": True},
        "showValue": "never",
    }
    return {
        "type": "heatmap",
        "title": title,
        "description": description,
        "gridPos": {"w": 12, "h": 8},
        "fieldConfig": {
            "defaults": {"custom": {"scaleDistribution": {"type": "linear"}}},
            "overrides": [],
        },
        "options": options,
        "targets": [target(expr, "{{le}}", format="heatmap")],
    }


def layout(panels: list[Panel]) -> list[Panel]:
    """Number the panels, flow them left to right in rows of 24 and set every data source."""
    x = y = row_height = 0
    placed = []
    for panel_id, panel in enumerate(panels, start=1):
        w, h = panel["gridPos"]["w"], panel["gridPos"]["h"]
        if x + w > 24:
            x, y, row_height = 0, y + row_height, 0
        queries = [{**q, "refId": chr(ord("A") + i)} for i, q in enumerate(panel["targets"])]
        placed.append(
            {
                "id": panel_id,
                **panel,
                "datasource": DATASOURCE,
                "gridPos": {"h": h, "w": w, "x": x, "y": y},
                "targets": queries,
            }
        )
        x, row_height = x + w, max(row_height, h)
    return placed


def envelope(title: str, uid: str, description: str, panels: list[Panel]) -> dict[str, Any]:
    """The dashboard document around ``panels``: datasource variable, fixed uid, no inputs."""
    variable = {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "includeAll": False,
        "multi": False,
        "options": [],
        "refresh": 1,
        "regex": "",
        "skipUrlSync": False,
    }
    builtin = {
        "builtIn": 1,
        "datasource": {"type": "grafana", "uid": "-- Grafana --"},
        "enable": True,
        "hide": True,
        "iconColor": "rgba(0, 211, 255, 1)",
        "name": "Annotations & Alerts",
        "type": "dashboard",
    }
    return {
        "annotations": {"list": [builtin]},
        "description": description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [],
        "panels": layout(panels),
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "tags": ["eco2", "chat", "streaming", "slo"],
        "templating": {"list": [variable]},
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "title": title,
        "uid": uid,
        "version": 1,
        "weekStart": "",
    }
