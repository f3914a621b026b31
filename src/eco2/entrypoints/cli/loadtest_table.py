"""The plain-text verdict table ``eco2 loadtest`` prints at the end of a run."""

from __future__ import annotations

import math
from typing import Any

from eco2.entrypoints.cli.deploy_slo import PERCENTILES


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    if math.isinf(value):
        return "no answer"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def verdict_table(summary: dict[str, Any]) -> str:
    """The plain-text verdict table printed at the end of a run."""
    rows = [
        f"{'SLO':<26}{'source':<8}{'n':>6}  "
        + "".join(f"{p + ' obs/slo':<22}" for p in PERCENTILES)
        + "verdict"
    ]
    for v in summary["slo"]:
        cells = ""
        for p in PERCENTILES:
            if p not in v["passed"]:
                mark = " ?" if p in v["thresholds"] and v["samples"] else ""  # too few to judge
            else:
                mark = "" if v["passed"][p] else " !"
            cells += f"{_ms(v['observed'].get(p)) + ' / ' + _ms(v['thresholds'].get(p)) + mark:<22}"
        rows.append(
            f"{v['feature']:<26}{v['source']:<8}{v['samples']:>6}  {cells}{v['status'].upper()}"
        )
    jobs = summary["jobs"]
    rows.append("")
    rows.append(
        f"jobs {jobs['total']}  completed {jobs['completed']}  errors {jobs['failed']} "
        f"({jobs['error_rate']:.2%}, max {summary['max_error_rate']:.2%})  "
        f"recoveries {jobs['recoveries']}  {jobs['throughput_jobs_per_s']:.2f} jobs/s  "
        f"{jobs['tokens_per_s']:.0f} tokens/s"
    )
    for intent, s in summary["per_intent"].items():
        rows.append(
            # n: every job of the intent, as the verdict counts them (failed ones included).
            f"  {intent:<11} n={s['jobs']:<5} errors {s['errors']:<4} e2e p50/p95/p99 "
            f"{_ms(s['e2e_s']['p50'])}/{_ms(s['e2e_s']['p95'])}/{_ms(s['e2e_s']['p99'])}  "
            f"ttft p50 {_ms(s['ttft_s']['p50'])}  "
            f"tokens/s p50 {s['tokens_per_s']['p50'] or 0:.0f}"
        )
    server = summary.get("server", {})
    cpu = ", ".join(f"{k} {v:.2f}" for k, v in server.get("cpu_cores", {}).items())
    host = server.get("host") or {}
    busy = host.get("cpu_busy")
    rows.append(
        f"server: queue wait mean {_ms(server.get('queue_wait_mean_s'))}, answer node mean "
        f"{_ms(server.get('node_mean_s', {}).get('answer'))}; CPU cores: {cpu}"
        + (f"; host {busy:.0%} busy, load {host['loadavg'][0]:.1f}" if busy is not None else "")
    )
    for error in server.get("scrape_errors") or []:
        rows.append(f"scrape failed (the run cannot pass): {error}")
    rows.append("VERDICT: " + ("PASS" if summary["passed"] else "FAIL"))
    return "\n".join(rows)
