"""``eco2 loadtest``: the reference scenario from Python, SLO verdicts, an HTML report.

Examples::

    eco2 loadtest --url http://127.0.0.1:8000 --users 50 --duration 60 --ramp 10 --report out/
    eco2 loadtest --url http://127.0.0.1:8000 --metrics-url worker=http://127.0.0.1:9101/metrics \\
        --find-max --stage 20 --report out/max

Exit status: 0 every SLO met and the error rate within ``--max-error-rate``; 1 otherwise (with
``--find-max``: 1 when not even the first level passes); 2 for a usage error.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from eco2.entrypoints import aio
from eco2.entrypoints.cli.deploy_slo import DeploySpec, load_spec
from eco2.entrypoints.cli.errors import fail
from eco2.entrypoints.cli.loadtest_eval import (
    evaluate,
    json_safe,
    server_figures,
    summarize,
)
from eco2.entrypoints.cli.loadtest_html import render
from eco2.entrypoints.cli.loadtest_prom import scrape
from eco2.entrypoints.cli.loadtest_run import MESSAGES, run_load
from eco2.entrypoints.cli.loadtest_table import verdict_table

DEFAULT_SLO = Path("deploy/slo.yaml")
_REPO_SLO = Path(__file__).resolve().parents[4] / "deploy" / "slo.yaml"


def _slo_path(path: Path | None) -> Path:
    if path is not None:
        return path
    return DEFAULT_SLO if DEFAULT_SLO.exists() else _REPO_SLO


def _targets(url: str, metrics_urls: list[str]) -> dict[str, str]:
    """``{name: metrics URL}``; ``NAME=URL`` names a target, a bare URL is named by its port."""
    targets: dict[str, str] = {}
    for item in metrics_urls or [f"api={url.rstrip('/')}/metrics"]:
        name, sep, target = item.partition("=")
        if not sep:
            name, target = item.split("//")[-1].split("/")[0], item
        targets[name] = target
    return targets


async def measure(
    url: str,
    spec: DeploySpec,
    targets: dict[str, str],
    users: int,
    duration: float,
    ramp: float,
    intents: list[str],
    max_error_rate: float,
    think: float,
    seed: int | None,
    min_samples: int | None = None,
) -> dict[str, Any]:
    """One run: scrape, load, scrape, judge; return the summary document."""
    async with httpx.AsyncClient() as client:
        before = await scrape(client, targets.values())
        cpu0, wall0, stat0 = time.process_time(), time.monotonic(), _proc_stat()
        run = await run_load(url, users, duration, ramp, intents, think_s=think, seed=seed)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        after = await scrape(client, targets.values())
    names = {v: k for k, v in targets.items()}
    server = server_figures(before, after, run.wall_s)
    server["cpu_cores"] = {names.get(k, k): v for k, v in server["cpu_cores"].items()}
    server["cpu_cores"]["loadtest client"] = cpu / wall if wall else 0.0
    server["targets"] = [names.get(t, t) for t in server["targets"]]
    server["host"] = host_cpu(stat0, _proc_stat())
    verdicts = evaluate(spec, run, before, after, min_samples)
    return summarize(url, run, verdicts, server, max_error_rate)


def _proc_stat() -> tuple[float, float] | None:
    """(busy, total) jiffies of this host from ``/proc/stat`` (Linux); ``None`` elsewhere."""
    try:
        fields = [float(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    return sum(fields) - idle, sum(fields)


def host_cpu(
    before: tuple[float, float] | None, after: tuple[float, float] | None
) -> dict[str, Any]:
    """Host CPU busy share during the run and its core count (meaningful for a local target)."""
    busy = None
    if before and after and after[1] > before[1]:
        busy = (after[0] - before[0]) / (after[1] - before[1])
    return {"cpu_busy": busy, "cores": os.cpu_count(), "loadavg": os.getloadavg()}


def write_report(report: Path, summary: dict[str, Any], extra_html: str = "") -> None:
    """Write ``summary.json`` and ``report.html`` into ``report``."""
    report.mkdir(parents=True, exist_ok=True)
    text = json.dumps(json_safe(summary), indent=2, ensure_ascii=False, allow_nan=False)
    (report / "summary.json").write_text(text + "\n", encoding="utf-8")
    (report / "report.html").write_text(render(summary, extra_html), encoding="utf-8")


def loadtest(
    url: Annotated[str, typer.Option("--url", help="Base URL of eco2 serve / eco2 api.")] = (
        "http://127.0.0.1:8000"
    ),
    users: Annotated[int, typer.Option("--users", min=1, help="Virtual users to hold.")] = 10,
    duration: Annotated[
        float, typer.Option("--duration", min=0.1, help="Seconds to hold all users.")
    ] = 30.0,
    ramp: Annotated[
        float, typer.Option("--ramp", min=0, help="Seconds to ramp up (and down) users.")
    ] = 0.0,
    intents: Annotated[
        list[str] | None,
        typer.Option(
            "--intents",
            help=f"Intents to draw from (repeat or comma-separate): "
            f"{', '.join(MESSAGES)}; default all.",
        ),
    ] = None,
    report: Annotated[
        Path, typer.Option("--report", help="Directory for summary.json and report.html.")
    ] = Path("loadtest-report"),
    max_error_rate: Annotated[
        float, typer.Option("--max-error-rate", min=0, max=1, help="Highest passing error rate.")
    ] = 0.01,
    slo: Annotated[
        Path | None, typer.Option("--slo", help="SLO file (default deploy/slo.yaml).")
    ] = None,
    metrics_url: Annotated[
        list[str] | None,
        typer.Option(
            "--metrics-url",
            help="[NAME=]URL of a /metrics to read server-side "
            "histograms from (repeat; default the API's). Add the worker's in "
            "distributed mode.",
        ),
    ] = None,
    think: Annotated[float, typer.Option("--think", min=0, help="Think time, seconds.")] = 1.0,
    seed: Annotated[int | None, typer.Option("--seed", help="Intent choice seed.")] = None,
    find_max: Annotated[
        bool, typer.Option("--find-max", help="Step users up until the first SLO miss or error.")
    ] = False,
    levels: Annotated[
        str, typer.Option("--levels", help="--find-max user levels.")
    ] = "5,10,20,40,80,160",
    stage: Annotated[
        float, typer.Option("--stage", min=0.1, help="--find-max seconds held per level.")
    ] = 20.0,
    min_samples: Annotated[
        int | None,
        typer.Option(
            "--min-samples",
            min=1,
            help="Fewest samples a percentile may be judged on (default: what it needs, "
            "2 for P50, 20 for P95, 100 for P99; fewer is INSUFFICIENT and fails the run).",
        ),
    ] = None,
) -> None:
    """Load test with SLO verdicts (DESIGN.md §5): users post, follow SSE, report."""
    chosen = [i.strip() for item in intents or [] for i in item.split(",") if i.strip()]
    unknown = [i for i in chosen if i not in MESSAGES]
    if unknown:
        raise fail(f"unknown intent(s) {unknown}; choose from {list(MESSAGES)}")
    try:
        spec = load_spec(_slo_path(slo))
        steps = [int(v) for v in levels.split(",") if v.strip()]
        if find_max and not steps:
            raise ValueError("--levels: give at least one number of users, e.g. 5,10,20")
    except (OSError, ValueError) as exc:
        raise fail(str(exc)) from None
    targets = _targets(url, metric_url_list(metrics_url))
    intents_run = chosen or list(MESSAGES)
    if find_max:
        from eco2.entrypoints.cli.loadtest_findmax import find_max_run

        passed = aio.run(
            find_max_run(
                url,
                spec,
                targets,
                steps,
                stage,
                min(ramp, stage),
                intents_run,
                max_error_rate,
                think,
                seed,
                report,
                min_samples,
            )
        )
        raise typer.Exit(0 if passed else 1)
    summary = aio.run(
        measure(
            url,
            spec,
            targets,
            users,
            duration,
            ramp,
            intents_run,
            max_error_rate,
            think,
            seed,
            min_samples,
        )
    )
    write_report(report, summary)
    typer.echo(verdict_table(summary))
    typer.echo(f"report: {report / 'report.html'}")
    raise typer.Exit(0 if summary["passed"] else 1)


def metric_url_list(values: list[str] | None) -> list[str]:
    """Flatten repeated / comma-separated ``--metrics-url`` values."""
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]
