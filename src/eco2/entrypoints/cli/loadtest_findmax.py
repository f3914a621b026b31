"""``eco2 loadtest --find-max``: step users up until the first SLO miss or error.

Each level is a short run (ramp, hold ``stage`` seconds, ramp down) judged like a normal run.
The bottleneck is named from the server's metrics: which process's CPU saturates (a Python
process tops out near one core) and whose share of the time grows most between the first and
the last level (``chat_node_duration_seconds`` per node, ``chat_queue_wait_seconds``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer

from eco2.entrypoints.cli.deploy_slo import DeploySpec
from eco2.entrypoints.cli.loadtest_html import _table, line_chart

SATURATED_CORES = 0.85
# Below this mean queue wait, jobs are picked up at once: slots are not what runs out.
QUEUE_WAIT_SIGNIFICANT_S = 0.1
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1"]


def _components(summary: dict[str, Any]) -> dict[str, float]:
    server = summary["server"]
    parts = {f"node {k}": v for k, v in server["node_mean_s"].items()}
    if server.get("queue_wait_mean_s") is not None:
        parts["queue wait"] = server["queue_wait_mean_s"]
    return parts


def _missed(summary: dict[str, Any]) -> str:
    """The SLO percentiles a level missed, with what was observed."""
    missed = []
    for slo in summary["slo"]:
        if slo.get("status") in ("insufficient", "no_data"):  # not a miss: too little to judge
            missed.append(f"{slo['name']} {slo['status']} ({slo.get('samples', 0)} samples)")
        for pct, ok in (slo.get("passed") or {}).items():
            observed = (slo.get("observed") or {}).get(pct)
            if ok is False:
                limit = slo["thresholds"][pct]
                seen = (
                    "no answer"
                    if observed is None or math.isinf(observed)
                    else (f"{observed * 1000:.0f} ms")
                )
                missed.append(f"{slo['name']} {pct} {seen} > {limit * 1000:g} ms")
    errors = (summary.get("server") or {}).get("scrape_errors") or []
    missed += [f"scrape failed: {e}" for e in errors]
    if summary.get("error_rate_ok") is False:
        missed.append(f"error rate {summary['jobs']['error_rate']:.2%}")
    return ", ".join(missed)


def _host_share(summary: dict[str, Any]) -> str | None:
    """Host CPU in use, and how much of it the measured processes account for."""
    host = summary["server"].get("host") or {}
    busy, cores = host.get("cpu_busy"), host.get("cores")
    if busy is None or not cores:
        return None
    used = busy * cores
    ours = sum(summary["server"]["cpu_cores"].values())
    text = f"host {busy:.0%} busy ({used:.2f} of {cores} cores"
    if host.get("loadavg"):
        text += f", load average {host['loadavg'][0]:.1f}"
    text += f"), measured processes {ours:.2f} cores"
    if used - ours >= 0.25 * cores:
        # Everything else on the host (other workloads, Redis, RabbitMQ, PostgreSQL) took the
        # rest: latency here is CPU scheduling delay, not a limit of the service's own code.
        text += f", processes not scraped {used - ours:.2f} cores"
    return text


def bottleneck(levels: list[dict[str, Any]]) -> str:
    """Name what saturates first, from the first and the last level measured."""
    if not levels:
        return "no level measured"
    first, last = levels[0], levels[-1]
    cpu = {k: v for k, v in last["server"]["cpu_cores"].items()}
    lines = []
    missed = _missed(last) if not last["passed"] else ""
    if missed:
        lines.append(f"at {last['users']} users missed {missed}")
    hot = [k for k, v in sorted(cpu.items(), key=lambda kv: -kv[1]) if v >= SATURATED_CORES]
    if hot:
        lines.append(
            "CPU-bound: "
            + ", ".join(f"{k} at {cpu[k]:.2f} cores" for k in hot)
            + f" with {last['users']} users"
        )
    host = last["server"].get("host") or {}
    if (host.get("cpu_busy") or 0.0) >= 0.9:
        lines.append("host CPU saturated: processes get less CPU than they need")
    share = _host_share(last)
    if share:
        lines.append(share)
    before, after = _components(first), _components(last)
    growth = {k: after[k] - before.get(k, 0.0) for k in after}
    if growth and len(levels) == 1:
        name = max(after, key=lambda k: after[k])
        lines.append(f"largest mean time at {last['users']} users: {name} {after[name]:.3f} s")
    elif growth:
        name = max(growth, key=lambda k: growth[k])
        total = sum(after.values()) or 1.0
        lines.append(
            f"largest growth in mean time: {name} {before.get(name, 0.0):.3f} s → "
            f"{after[name]:.3f} s ({after[name] / total:.0%} of server time at "
            f"{last['users']} users)"
        )
        if name == "queue wait" and not hot and after[name] >= QUEUE_WAIT_SIGNIFICANT_S:
            lines.append(
                "jobs wait for a free worker slot while no process is CPU-bound: worker "
                "concurrency (ECO2_WORKER_CONCURRENCY × workers) saturates first"
            )
    else:
        lines.append("no server histograms scraped (add --metrics-url of the worker)")
    if cpu:
        lines.append("CPU cores: " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(cpu.items())))
    return "; ".join(lines)


def _seconds(value: float) -> str:
    # A p95 on a job with no answer (every job counts, as in the verdict) is infinite.
    return "no answer" if math.isinf(value) else f"{value:.2f}"


def _level_row(s: dict[str, Any]) -> list[Any]:
    failed = [
        v["name"] + ("" if v["status"] == "fail" else f" ({v['status']})")
        for v in s["slo"]
        if v["status"] not in ("pass", "skipped")
    ]
    p95 = {i: x["e2e_s"]["p95"] for i, x in s["per_intent"].items()}
    return [
        s["users"],
        "PASS" if s["passed"] else "FAIL",
        s["jobs"]["completed"],
        f"{s['jobs']['error_rate']:.2%}",
        f"{s['jobs']['throughput_jobs_per_s']:.2f}",
        ", ".join(f"{i} {_seconds(v)}" for i, v in p95.items() if v is not None),
        ", ".join(failed) or "-",
        ", ".join(f"{k} {v:.2f}" for k, v in s["server"]["cpu_cores"].items()),
    ]


def levels_html(levels: list[dict[str, Any]], verdict: str) -> str:
    """The find-max section of the report: a table and two charts over user levels."""
    rows = [_level_row(s) for s in levels]
    table = _table(
        ["users", "verdict", "done", "errors", "jobs/s", "e2e p95 (s)", "SLOs missed", "CPU cores"],
        rows,
    )
    intents = list(levels[0]["per_intent"]) if levels else []
    p95 = [
        (
            i,
            PALETTE[n % len(PALETTE)],
            [(s["users"], s["per_intent"][i]["e2e_s"]["p95"] or 0.0) for s in levels],
        )
        for n, i in enumerate(intents)
    ]
    procs = sorted({k for s in levels for k in s["server"]["cpu_cores"]})
    cpu = [
        (
            k,
            PALETTE[n % len(PALETTE)],
            [(s["users"], s["server"]["cpu_cores"].get(k, 0.0)) for s in levels],
        )
        for n, k in enumerate(procs)
    ]
    host = [
        (
            s["users"],
            (s["server"]["host"].get("cpu_busy") or 0.0) * (s["server"]["host"].get("cores") or 1),
        )
        for s in levels
        if s["server"].get("host")
    ]
    if host:
        cpu.append(("whole host", "#555555", host))
    charts = line_chart("e2e p95 per intent by users", "seconds", p95, xunit=" users")
    charts += line_chart("CPU per process by users", "cores", cpu, xunit=" users")
    return f"<h2>--find-max</h2><p>{verdict}</p>{table}{charts}"


async def find_max_run(
    url: str,
    spec: DeploySpec,
    targets: dict[str, str],
    steps: list[int],
    stage: float,
    ramp: float,
    intents: list[str],
    max_error_rate: float,
    think: float,
    seed: int | None,
    report: Path,
    min_samples: int | None = None,
) -> bool:
    """Run the levels; write the report; return whether at least one level passed."""
    from eco2.entrypoints.cli.loadtest import measure, write_report
    from eco2.entrypoints.cli.loadtest_table import verdict_table

    levels: list[dict[str, Any]] = []
    best: int | None = None
    for users in steps:
        typer.echo(f"--- level {users} users: ramp {ramp:g} s, hold {stage:g} s", err=True)
        summary = await measure(
            url,
            spec,
            targets,
            users,
            stage,
            ramp,
            intents,
            max_error_rate,
            think,
            seed,
            min_samples,
        )
        levels.append(summary)
        typer.echo(verdict_table(summary), err=True)
        if not summary["passed"]:
            break
        best = users
    failing = levels[-1]["users"] if levels and not levels[-1]["passed"] else None
    named = bottleneck(levels)
    verdict = (
        f"highest passing level: {best if best is not None else 'none'} users"
        + (f"; first failing: {failing} users" if failing is not None else "; no level failed")
        + f". Bottleneck: {named}"
    )
    last = dict(levels[-1])
    last["find_max"] = {
        "levels": [{k: v for k, v in s.items() if k != "timeline"} for s in levels],
        "max_passing_users": best,
        "first_failing_users": failing,
        "bottleneck": named,
        "stage_s": stage,
        "ramp_s": ramp,
    }
    typer.echo(verdict)  # first: a report that cannot be written loses no result
    write_report(report, last, levels_html(levels, verdict))
    typer.echo(f"report: {report / 'report.html'}")
    return best is not None
