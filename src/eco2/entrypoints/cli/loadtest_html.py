"""The self-contained HTML report of ``eco2 loadtest``: tables and inline SVG drawn here.

No plotting dependency: two chart kinds (grouped bars with SLO lines, lines over time).
"""

from __future__ import annotations

import html
import itertools
import json
import math
from typing import Any

from eco2.entrypoints.cli.deploy_slo import PERCENTILES
from eco2.entrypoints.cli.loadtest_eval import json_safe

COLORS = {"p50": "#4e79a7", "p95": "#f28e2b", "p99": "#e15759"}
W, H, LEFT, RIGHT, TOP, BOTTOM = 760, 300, 60, 150, 20, 40
VERDICT_HEADERS = ["SLO", "source", "n", *(f"{p} observed / SLO (s)" for p in PERCENTILES)]
VERDICT_HEADERS += ["verdict", "note"]
# e2e: every job of the intent, as the verdict counts them; ttft, tokens/s: the completed ones.
INTENT_HEADERS = ["intent", "jobs", "done", "errors", "recoveries", "e2e p50", "e2e p95"]
INTENT_HEADERS += ["e2e p99", "ttft p50", "ttft p95", "tokens/s p50"]


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    step = 10 ** len(str(int(value))) / 10 if value >= 1 else 0.1
    while step * 10 < value:
        step *= 10
    for mult in (1, 2, 2.5, 5, 10):
        if step * mult >= value:
            return step * mult
    return value


def _axes(ymax: float, ylabel: str, xlabels: list[tuple[float, str]]) -> list[str]:
    plot_h = H - TOP - BOTTOM
    out = [
        f'<rect x="{LEFT}" y="{TOP}" width="{W - LEFT - RIGHT}" height="{plot_h}" '
        'fill="none" stroke="#999"/>'
    ]
    for i in range(5):
        value = ymax * i / 4
        y = TOP + plot_h - plot_h * i / 4
        out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{value:g}</text>')
    out.append(
        f'<text x="14" y="{TOP + plot_h / 2}" transform="rotate(-90 14 {TOP + plot_h / 2})"'
        f' text-anchor="middle">{html.escape(ylabel)}</text>'
    )
    for x, label in xlabels:
        out.append(
            f'<text x="{x:.1f}" y="{H - BOTTOM + 16}" text-anchor="middle">'
            f"{html.escape(label)}</text>"
        )
    return out


def _svg(parts: list[str], title: str) -> str:
    body = "\n".join(parts)
    return (
        f"<figure><figcaption>{html.escape(title)}</figcaption>"
        f'<svg xmlns="http://www.w3.org/2000/svg" '
        f'width="{W}" height="{H}" font-size="11" font-family="sans-serif">{body}</svg></figure>'
    )


def _finite(values: list[float]) -> list[float]:
    return [v for v in values if math.isfinite(v)]


def _bar(x: float, width: float, value: float, ymax: float, color: str, title: str) -> str:
    """One bar; an infinite value (a percentile that lands on a job with no answer) fills the
    whole height, hatched and marked ∞, instead of stretching the axis to infinity."""
    plot_h = H - TOP - BOTTOM
    if math.isinf(value):
        return (
            f'<rect x="{x:.1f}" y="{TOP}" width="{width:.1f}" height="{plot_h}" fill="none" '
            f'stroke="{color}" stroke-width="2" stroke-dasharray="2,2"><title>{title}: no answer'
            f'</title></rect><text x="{x + width / 2:.1f}" y="{TOP + 14}" text-anchor="middle" '
            f'fill="{color}">∞</text>'
        )
    h = plot_h * value / ymax
    return (
        f'<rect x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{width:.1f}" height="{h:.1f}" '
        f'fill="{color}"><title>{title}: {value:.3f} s</title></rect>'
    )


def latency_chart(summary: dict[str, Any]) -> str:
    """End-to-end p50/p95/p99 per intent as bars; the SLO thresholds as dashed lines.

    The percentiles are those the verdict judged (every job, failed ones included); one that
    lands on a job with no answer is drawn as a full-height hatched bar marked ∞.

    Args:
        summary: The run's summary document (:func:`~.loadtest_eval.summarize`).

    Returns:
        The chart, an SVG inside a ``<figure>``.
    """
    intents = list(summary["per_intent"])
    slo_by_intent: dict[str, dict[str, float]] = {}
    for v in summary["slo"]:
        if v["source"] == "client":
            intent = v["note"].split("'")[1] if "'" in v["note"] else ""
            slo_by_intent[intent] = v["thresholds"]
    values = [summary["per_intent"][i]["e2e_s"].get(p) or 0.0 for i in intents for p in PERCENTILES]
    limits = [t for i in intents for t in slo_by_intent.get(i, {}).values()]
    ymax = _nice_max(max(_finite(values) + limits + [0.001]) * 1.05)
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    group = plot_w / max(1, len(intents))
    bar = group * 0.8 / len(PERCENTILES)
    xlabels = [(LEFT + group * (k + 0.5), i) for k, i in enumerate(intents)]
    parts = _axes(ymax, "seconds (end to end)", xlabels)
    lines: list[str] = []  # drawn after every bar so no bar hides an SLO line
    for k, intent in enumerate(intents):
        x0 = LEFT + group * k + group * 0.1
        for n, p in enumerate(PERCENTILES):
            value = summary["per_intent"][intent]["e2e_s"].get(p) or 0.0
            x = x0 + bar * n
            parts.append(_bar(x, bar - 2, value, ymax, COLORS[p], f"{intent} {p}"))
            threshold = slo_by_intent.get(intent, {}).get(p)
            if threshold is not None and threshold <= ymax:
                y = TOP + plot_h - plot_h * threshold / ymax
                lines.append(
                    f'<line x1="{x0 - 2:.1f}" x2="{x0 + group * 0.8:.1f}" y1="{y:.1f}" '
                    f'y2="{y:.1f}" stroke="{COLORS[p]}" stroke-dasharray="5,3" '
                    f'stroke-width="2"><title>SLO {p} {threshold} s</title></line>'
                )
    parts += lines
    for n, p in enumerate(PERCENTILES):
        y = TOP + 14 + n * 18
        parts.append(
            f'<rect x="{W - RIGHT + 12}" y="{y - 9}" width="10" height="10" fill="{COLORS[p]}"/>'
            f'<text x="{W - RIGHT + 28}" y="{y}">{p} (dashed: SLO)</text>'
        )
    return _svg(
        parts, "End-to-end latency percentiles per intent against the SLO (deploy/slo.yaml)"
    )


def line_chart(
    title: str,
    ylabel: str,
    series: list[tuple[str, str, list[tuple[float, float]]]],
    xunit: str = "s",
) -> str:
    """Lines over time: ``series`` of (label, colour, [(t seconds, value)]).

    An infinite value (a latency percentile on a job with no answer) is drawn on the top edge
    and marked ∞; the axis is scaled to the finite ones.

    Args:
        title: The caption.
        ylabel: The y axis's label.
        series: The lines.
        xunit: Unit appended to the x tick labels.

    Returns:
        The chart, an SVG inside a ``<figure>``.
    """
    points = [pt for _, _, pts in series for pt in pts]
    xmax = max([x for x, _ in points] + [1.0])
    ymax = _nice_max(max([*_finite([y for _, y in points]), 1.0]) * 1.05)
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    xticks = [(LEFT + plot_w * i / 5, f"{xmax * i / 5:.0f}{xunit}") for i in range(6)]
    parts = _axes(ymax, ylabel, xticks)
    for n, (label, color, pts) in enumerate(series):
        coords = " ".join(
            f"{LEFT + plot_w * x / xmax:.1f},{TOP + plot_h - plot_h * min(y, ymax) / ymax:.1f}"
            for x, y in pts
        )
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2"/>')
        parts += [
            f'<text x="{LEFT + plot_w * x / xmax:.1f}" y="{TOP - 4}" text-anchor="middle" '
            f'fill="{color}">∞<title>{html.escape(label)}: no answer</title></text>'
            for x, y in pts
            if math.isinf(y)
        ]
        y = TOP + 14 + n * 18
        parts.append(
            f'<rect x="{W - RIGHT + 12}" y="{y - 9}" width="10" height="10" fill="{color}"/>'
            f'<text x="{W - RIGHT + 28}" y="{y}">{html.escape(label)}</text>'
        )
    return _svg(parts, title)


def _rates(timeline: list[dict[str, Any]], key: str) -> list[tuple[float, float]]:
    out = []
    for prev, cur in itertools.pairwise(timeline):
        dt = cur["t"] - prev["t"]
        if dt >= 0.5:  # the closing tick may follow the last one closely
            out.append((cur["t"], (cur[key] - prev[key]) / dt))
    return out


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return "no answer" if math.isinf(value) else f"{value:.3f}"


def render(summary: dict[str, Any], extra_html: str = "") -> str:
    """The whole report page."""
    timeline = summary["timeline"]
    verdict_rows = [
        [
            v["feature"],
            v["source"],
            v["samples"],
            *[f"{_fmt(v['observed'].get(p))} / {v['thresholds'].get(p)}" for p in PERCENTILES],
            v["status"].upper(),
            v["note"],
        ]
        for v in summary["slo"]
    ]
    intent_rows = [
        [
            i,
            s["jobs"],
            s["completed"],
            s["errors"],
            s["recoveries"],
            *[_fmt(s["e2e_s"][p]) for p in PERCENTILES],
            _fmt(s["ttft_s"]["p50"]),
            _fmt(s["ttft_s"]["p95"]),
            f"{s['tokens_per_s']['p50'] or 0:.1f}",
        ]
        for i, s in summary["per_intent"].items()
    ]
    server = summary.get("server", {})
    server_rows = [
        [f"node {k} mean", f"{v:.4f} s"] for k, v in server.get("node_mean_s", {}).items()
    ]
    if server.get("queue_wait_mean_s") is not None:
        server_rows.append(["queue wait mean", f"{server['queue_wait_mean_s']:.4f} s"])
    server_rows += [[f"CPU {k}", f"{v:.2f} cores"] for k, v in server.get("cpu_cores", {}).items()]
    jobs = summary["jobs"]
    verdict = "PASS" if summary["passed"] else "FAIL"
    charts = latency_chart(summary)
    charts += line_chart(
        "Throughput over time",
        "per second",
        [
            ("jobs completed/s", "#59a14f", _rates(timeline, "completed")),
            ("jobs failed/s", "#e15759", _rates(timeline, "failed")),
        ],
    )
    charts += line_chart(
        "Token throughput over time (client side)",
        "tokens per second",
        [("tokens/s", "#76b7b2", _rates(timeline, "tokens"))],
    )
    charts += line_chart(
        "Active users and streams over time",
        "count",
        [
            ("virtual users", "#bab0ac", [(t["t"], t["users"]) for t in timeline]),
            ("open SSE streams", "#4e79a7", [(t["t"], t["streams"]) for t in timeline]),
        ],
    )
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>eco2 loadtest: {verdict}</title><style>
body{{font-family:sans-serif;margin:2em;max-width:1100px}}
table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px}} figure{{margin:1em 0}}
.PASS{{color:#2a7d2a}} .FAIL{{color:#c0392b}}</style></head><body>
<h1>eco2 loadtest <span class="{verdict}">{verdict}</span></h1>
<p>{html.escape(summary["url"])}: {summary["users"]} users, ramp {summary["ramp_s"]} s, hold
{summary["duration_s"]} s (wall {summary["wall_s"]:.1f} s). Jobs {jobs["total"]}, completed
{jobs["completed"]}, errors {jobs["failed"]} ({jobs["error_rate"]:.2%}; max
{summary["max_error_rate"]:.2%}), recoveries {jobs["recoveries"]},
{jobs["throughput_jobs_per_s"]:.2f} jobs/s, {jobs["tokens_per_s"]:.0f} tokens/s.</p>
<h2>SLO verdicts</h2><p>client = end-to-end latency measured by the load generator;
server = histogram observations from <code>/metrics</code> during the run (bucket deltas).</p>
{_table(VERDICT_HEADERS, verdict_rows)}
{extra_html}
<h2>Charts</h2>{charts}
<h2>Per intent (client side, seconds)</h2>
{_table(INTENT_HEADERS, intent_rows)}
<h2>Server side</h2>{_table(["figure", "value"], server_rows)}
<details><summary>summary.json</summary><pre>{
        html.escape(
            json.dumps(
                json_safe({k: v for k, v in summary.items() if k != "timeline"}),
                indent=2,
                ensure_ascii=False,
            )
        )
    }</pre>
</details></body></html>
"""
