"""``eco2 loadtest``: the reference scenario from Python, SLO verdicts, an HTML report.

Examples::

    eco2 loadtest --url http://127.0.0.1:8000 --users 50 --duration 60 --ramp 10 --report out/
    eco2 loadtest --url http://127.0.0.1:8000 --metrics-url worker=http://127.0.0.1:9101/metrics \\
        --find-max --stage 20 --report out/max

The reference scenario, as the project reads DESIGN.md §5's self-contradicting text (0 → 50
users over 1 minute, 50 for 5 minutes, 50 → 0 over 1 minute: ``--ramp`` is both the ramp-up and
the ramp-down, see :mod:`.loadtest_run`; the k6 twin's stages ``{1m,50},{5m,50},{1m,0}``)::

    eco2 loadtest --url http://127.0.0.1:8000 --users 50 --ramp 60 --duration 300

Exit status: 0 every SLO met and the error rate within ``--max-error-rate``; 1 otherwise (with
``--find-max``: 1 when not even the first level passes); 2 for a usage error (checked before
anything runs: URLs, ``--levels``, a ``--report`` directory that cannot be written).
"""

from __future__ import annotations

import json
import os
import tempfile
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
        targets[name] = http_url(target, "--metrics-url")
    return targets


def http_url(value: str, option: str) -> str:
    """Check that ``value`` is an absolute ``http``/``https`` URL with a host.

    Args:
        value: The URL given.
        option: The option it came from, for the message.

    Returns:
        ``value``, unchanged.

    Raises:
        typer.Exit: A usage error (2); unchecked, a bad URL would fail every request, or crash.
    """
    try:
        parsed = httpx.URL(value)
    except httpx.InvalidURL as exc:
        raise fail(f"{option} {value!r} is not a URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise fail(f"{option} {value!r}: give an absolute http:// or https:// URL")
    return value


def user_levels(text: str, find_max: bool) -> list[int]:
    """Parse ``--levels``: comma-separated numbers of users, each at least 1.

    Args:
        text: The option's value.
        find_max: Whether ``--find-max`` runs them (then at least one level is needed).

    Returns:
        The levels, in the order given.

    Raises:
        typer.Exit: A usage error (2).
    """
    try:
        steps = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise fail(f"--levels {text!r}: give numbers of users, e.g. 5,10,20") from None
    if find_max and not steps:
        raise fail("--levels: give at least one number of users, e.g. 5,10,20")
    if any(n < 1 for n in steps):
        raise fail(f"--levels {text!r}: every level needs at least 1 user")
    return steps


def writable_dir(report: Path) -> None:
    """Create ``report`` and check that a file can be written in it, before the run: a bad
    path is then a usage error at once, not the run's results lost to a traceback at the end.

    Args:
        report: The ``--report`` directory.

    Raises:
        typer.Exit: A usage error (2).
    """
    try:
        report.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=report, prefix=".eco2-loadtest-"):
            pass
    except OSError as exc:
        raise fail(f"--report {str(report)!r}: cannot write there ({exc})") from None


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
    """Write ``summary.json`` and ``report.html`` into ``report``.

    Args:
        report: The directory (created if missing).
        summary: The run's summary document.
        extra_html: More HTML for the report (the ``--find-max`` section).

    Raises:
        typer.Exit: 1, with a message, if the files cannot be written (the directory was
            checked before the run, but may have gone since).
    """
    text = json.dumps(json_safe(summary), indent=2, ensure_ascii=False, allow_nan=False)
    try:
        report.mkdir(parents=True, exist_ok=True)
        (report / "summary.json").write_text(text + "\n", encoding="utf-8")
        (report / "report.html").write_text(render(summary, extra_html), encoding="utf-8")
    except OSError as exc:
        raise fail(f"could not write the report into {str(report)!r}: {exc}", 1) from None


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
    except (OSError, ValueError) as exc:
        raise fail(str(exc)) from None
    steps = user_levels(levels, find_max)
    targets = _targets(http_url(url, "--url"), metric_url_list(metrics_url))
    writable_dir(report)
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
    typer.echo(verdict_table(summary))  # first: a report that cannot be written loses no result
    write_report(report, summary)
    typer.echo(f"report: {report / 'report.html'}")
    raise typer.Exit(0 if summary["passed"] else 1)


def metric_url_list(values: list[str] | None) -> list[str]:
    """Flatten repeated / comma-separated ``--metrics-url`` values."""
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]
