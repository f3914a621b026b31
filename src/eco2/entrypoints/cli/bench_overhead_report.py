"""``eco2 bench overhead``'s figures: one run's measurements, the summary and the report.

See ``bench_overhead`` for the workload and what each figure means.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

TARGET_OVERHEAD = 0.03  # instrumentation may cost at most 3 % of tokens/s


@dataclass
class RunFigures:
    """One measured run of one variant."""

    jobs: int
    done: int
    tokens: int
    flushes: int
    wall_s: float
    cpu_s: float
    spans: dict[str, int]  # by kind: node, chat (model call), …
    runs: int  # LangSmith runs posted


def summarise(
    results: dict[str, list[RunFigures]],
    parts: tuple[str, ...],
    workload: str = "",
) -> dict[str, Any]:
    """Medians per variant, both ratios, per-job telemetry volume, the verdict.

    The verdict is on the capacity cost, CPU per token: a paced run's wall-clock tokens/s is set
    by the model's pace, and in an unpaced one the variants share a core, so the one that
    finishes its round first leaves the other the whole core. The tokens/s a saturated worker
    carries is the inverse of its CPU per token.
    """
    out: dict[str, Any] = {"workload": workload, "instrumentation": list(parts), "rounds": {}}
    for name, runs in results.items():
        last = runs[-1]
        spans = sum(sum(r.spans.values()) for r in runs) / sum(r.jobs for r in runs)
        out[name] = {
            "jobs": last.jobs,
            "done": last.done,
            "tokens_per_job": last.tokens / last.jobs,
            "token_entries_per_job": last.flushes / last.jobs,
            "tokens_per_s": statistics.median(r.tokens / r.wall_s for r in runs),
            # process CPU (every thread, exporters' included) per streamed token
            "cpu_us_per_token": statistics.median(r.cpu_s / r.tokens * 1e6 for r in runs),
            # ≈ 1 when the run was CPU-bound (exporter threads can push it a little above)
            "cpu_busy": statistics.median(r.cpu_s / r.wall_s for r in runs),
            "spans_per_job": spans,
            "spans_per_job_by_kind": {k: v / last.jobs for k, v in sorted(last.spans.items())},
            "langsmith_runs_per_job": sum(r.runs for r in runs) / sum(r.jobs for r in runs),
        }
        out["rounds"][name] = [round(r.tokens / r.wall_s, 1) for r in runs]
    ratio = out["instrumented"]["tokens_per_s"] / out["noop"]["tokens_per_s"]
    # Each round ran in both variants at once (bench_overhead_pair), so a pair saw the same host:
    # the CPU-per-token ratio is the median over pairs, and their spread is the noise left.
    # Tokens per CPU-second is the capacity figure; it is steadier than wall time on a busy host.
    pairs = zip(results["noop"], results["instrumented"], strict=True)
    per_round = [i.cpu_s * n.tokens / (n.cpu_s * i.tokens) for n, i in pairs]
    cpu_ratio = statistics.median(per_round)
    out.update(throughput_ratio=ratio, throughput_cost=1 - ratio, cpu_per_token_ratio=cpu_ratio)
    out["cpu_ratio_per_round"] = [round(r, 3) for r in per_round]
    out.update(cpu_overhead=1 - 1 / cpu_ratio, target_overhead=TARGET_OVERHEAD)
    out["basis"] = "capacity (tokens per CPU-second)"
    out["overhead"] = out["cpu_overhead"]
    out["target_met"] = out["overhead"] <= TARGET_OVERHEAD
    return out


def render(summary: dict[str, Any]) -> str:
    """The human-readable report."""
    lines = [f"workload: {summary['workload']}"] if summary.get("workload") else []
    lines += [f"instrumentation: {', '.join(summary['instrumentation']) or 'none'}"]
    lines.append(f"{'':28}{'noop':>14}{'instrumented':>14}")
    rows = [("jobs done", "done", "{:.0f}"), ("tokens / job", "tokens_per_job", "{:.1f}")]
    rows += [("token entries / job", "token_entries_per_job", "{:.1f}")]
    rows += [("tokens/s (median)", "tokens_per_s", "{:,.0f}")]
    rows += [("CPU µs / token (median)", "cpu_us_per_token", "{:.1f}")]
    rows += [("CPU busy (CPU-s / wall-s)", "cpu_busy", "{:.2f}")]
    rows += [("OTEL spans / job", "spans_per_job", "{:.1f}")]
    rows += [("LangSmith runs / job", "langsmith_runs_per_job", "{:.1f}")]
    for label, key, fmt in rows:
        noop, inst = (fmt.format(summary[v][key]) for v in ("noop", "instrumented"))
        lines.append(f"{label:28}{noop:>14}{inst:>14}")
    by_kind = summary["instrumented"]["spans_per_job_by_kind"].items()
    verdict = "met" if summary["target_met"] else "NOT met"
    lines += [
        f"spans / job by kind:        {', '.join(f'{k} {v:.1f}' for k, v in by_kind) or '-'}",
        f"tokens/s per round:         {summary['rounds']}",
        f"throughput ratio:           {summary['throughput_ratio']:.3f} (wall-clock tokens/s; "
        "a paced run's is the model's pace)",
        f"CPU / token ratio:          {summary['cpu_per_token_ratio']:.3f} "
        f"(median of round pairs: {summary['cpu_ratio_per_round']})",
        f"capacity cost:              {summary['cpu_overhead']:.1%} (tokens per CPU-second)",
        f"overhead:                   {summary['overhead']:.1%} on {summary['basis']} "
        f"(target ≤ {TARGET_OVERHEAD:.0%}: {verdict})",
    ]
    return "\n".join(lines)
