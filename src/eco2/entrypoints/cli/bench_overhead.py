"""``eco2 bench overhead``: what full instrumentation costs the streaming pipeline.

The workload: chat jobs through the real pipeline (offline models, in-memory events, the
coalescer as configured), ``--concurrency`` at once, once with the NoOp adapters and once fully
instrumented. Two paces:

- default, paced: the models stream at the settings' offline latency profile
  (``ECO2_OFFLINE_TTFT_S``, ``ECO2_OFFLINE_TOKENS_PER_S``: 0.4 s to the first token, then 80
  tokens/s, like a hosted model), so each token is its own stream entry as in production. The
  offered load stays below saturation on purpose: wall-clock tokens/s is then set by the model's
  pace, and the figure is the capacity cost, process CPU per token (the tokens/s one saturated
  worker could carry is its inverse). Saturating a paced run is not a fair comparison: the event
  loop lags, tokens arrive in clumps and the coalescer writes fewer, larger entries, more so for
  the slower variant (measured: 14.8 vs 8.4 entries per job at 256 jobs at once), which hides
  part of the cost.
- ``--unpaced``: no model latency, so the run is CPU-bound (``CPU busy`` ≈ 1) and the entries are
  full coalescer batches in both variants; the figure is the throughput ratio. The worst case:
  instrumentation against a pipeline that does almost nothing per token.

Instrumented means Prometheus on a fresh registry, OpenTelemetry with a ``BatchSpanProcessor``
exporting OTLP/HTTP and LangSmith posting run trees, both to a receiver in a child process (its
CPU is not counted; the exporters' threads are: ``time.process_time`` covers the process).
Variants alternate (ABBA), medians are reported, telemetry is drained inside the timed window.
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from eco2.entrypoints.cli.bench_receiver import receiver_stats, running_receiver

if TYPE_CHECKING:
    from eco2.bootstrap import Application
    from eco2.domain.events import StreamEvent
    from eco2.pipeline.context import Ports
    from eco2.settings import Settings

__all__ = ["bench_overhead", "render", "run_benchmark", "running_receiver", "summarise"]

TARGET_OVERHEAD = 0.03  # instrumentation may cost at most 3 % of tokens/s
MESSAGES = ("페트병 어떻게 버려?", "이코 소개해줘", "소파 버리는 방법 알려줘", "안녕하세요")
PARTS = ("metrics", "otel", "langsmith")
# paced → (jobs, concurrency). Paced: 16 streams at 80 tokens/s keep one core about 40 % busy
# (below saturation, see above); unpaced: 16 at once saturate it.
DEFAULTS = {True: (160, 16), False: (200, 16)}


@dataclass
class Variant:
    """One configuration of the application and the calls that drain its telemetry."""

    name: str
    app: Application
    tally: Counter[str]  # streamed tokens and token entries (coalescer flushes)
    drains: list[Callable[[], Any]]


@dataclass
class RunFigures:
    """One measured run of one variant."""

    jobs: int
    done: int
    tokens: int
    flushes: int
    wall_s: float
    cpu_s: float
    spans: dict[str, int]  # by kind: node, subagent, chat (model call)
    runs: int  # LangSmith runs posted


def bench_settings(metrics: bool, paced: bool = True) -> Settings:
    """Offline models (paced as the settings say, or unpaced), the rest as ECO2 runs."""
    from eco2.settings import LLMSettings, Settings, TelemetrySettings

    llm = LLMSettings(provider="offline")
    if not paced:
        llm = llm.model_copy(update={"offline_ttft_s": 0.0, "offline_tokens_per_s": 0.0})
    return Settings(
        environment="bench",
        llm=llm,
        telemetry=TelemetrySettings(metrics_enabled=metrics),
    )


def build_variant(
    name: str, ports: Ports, parts: tuple[str, ...], url: str, sampling: float = 1.0
) -> Variant:
    """The application with NoOp adapters (``parts`` empty) or with the given instrumentation."""
    from eco2.bootstrap import build_application
    from eco2.infrastructure.telemetry import langsmith as ls

    settings = bench_settings("metrics" in parts)
    drains: list[Callable[[], Any]] = []
    tracer = None
    if "otel" in parts:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        from eco2.infrastructure.telemetry.otel import INSTRUMENTATION, build_tracer_provider

        provider = build_tracer_provider("eco2-bench", OTLPSpanExporter(f"{url}/v1/traces"))
        tracer = provider.get_tracer(INSTRUMENTATION)
        drains.append(provider.force_flush)
    telemetry: ls.LangSmithTelemetry | ls.NoOpTelemetry = ls.NoOpTelemetry("bench")
    if "langsmith" in parts:
        config = ls.LangSmithConfig(True, "bench-key", "eco2-bench", url, sampling)
        telemetry = ls.LangSmithTelemetry(config, "bench")
        drains.append(telemetry.flush)
    tally: Counter[str] = Counter()

    def listen(_: str, event: StreamEvent) -> None:
        if event.type == "token":
            tally.update(tokens=int(event.payload.get("count", 1)), flushes=1)

    app = build_application(
        settings, ports=ports, telemetry=telemetry, tracer=tracer, listener=listen
    )
    return Variant(name, app, tally, drains)


async def measure(variant: Variant, jobs: int, concurrency: int, url: str) -> RunFigures:
    """One timed run (telemetry drained inside the window) and what the receiver got from it."""
    from eco2.domain.chat import ChatJob, ChatRequest

    gate = asyncio.Semaphore(concurrency)

    async def one(index: int) -> bool:
        async with gate:
            job = ChatJob(ChatRequest(MESSAGES[index % len(MESSAGES)], user_id="bench"))
            return await variant.app.process_chat.execute(job) is not None

    before = await asyncio.to_thread(receiver_stats, url)
    tally = variant.tally
    tally.clear()
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    done = sum(await asyncio.gather(*(one(i) for i in range(jobs))))
    for drain in variant.drains:  # send what the exporters still hold, inside the window
        drain()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    after = await asyncio.to_thread(receiver_stats, url)
    spans = {k: v - before["spans"].get(k, 0) for k, v in after["spans"].items()}
    return RunFigures(
        jobs, done, tally["tokens"], tally["flushes"], wall, cpu,
        {k: v for k, v in spans.items() if v}, after["runs"] - before["runs"],
    )  # fmt: skip


async def run_benchmark(
    jobs: int,
    concurrency: int,
    rounds: int,
    warmup: int,
    parts: tuple[str, ...],
    url: str,
    ports: Ports | None = None,
    paced: bool = True,
    sampling: float = 1.0,
) -> dict[str, list[RunFigures]]:
    """Warm both variants up, then alternate them (ABBA) for ``rounds`` rounds each.

    Args:
        jobs: Jobs per timed run.
        concurrency: Jobs running at once.
        rounds: Timed runs per variant.
        warmup: Untimed jobs per variant first.
        parts: Instrumentation switched on in the instrumented variant.
        url: The receiver's base URL.
        ports: Adapters to share (default: the offline ones, paced as ``paced`` says).
        paced: Models stream at the settings' latency profile (else as fast as they can).
        sampling: LangSmith's job sampling rate (1: every job traced).
    """
    from eco2.bootstrap import build_ports

    ports = ports or build_ports(bench_settings(False, paced))
    pairs = (("noop", ()), ("instrumented", parts))
    variants = [build_variant(n, ports, p, url, sampling) for n, p in pairs]
    for variant in variants:
        await measure(variant, warmup, concurrency, url)
    results: dict[str, list[RunFigures]] = {v.name: [] for v in variants}
    for index in range(rounds):
        for variant in variants if index % 2 == 0 else variants[::-1]:
            results[variant.name].append(await measure(variant, jobs, concurrency, url))
    return results


def summarise(
    results: dict[str, list[RunFigures]],
    parts: tuple[str, ...],
    workload: str = "",
    paced: bool = False,
) -> dict[str, Any]:
    """Medians per variant, both ratios, per-job telemetry volume, the verdict.

    The verdict is on the capacity cost (CPU per token) for a paced run, whose wall-clock
    tokens/s the model's pace sets, and on the throughput ratio for a CPU-bound unpaced one.
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
    # Rounds run back to back (ABBA), so each pair saw the same host load: the CPU-per-token ratio
    # is the median over pairs, and their spread is the noise on a shared machine. Tokens per
    # CPU-second is the capacity figure; it is steadier than wall time on a busy host.
    pairs = zip(results["noop"], results["instrumented"], strict=True)
    per_round = [i.cpu_s * n.tokens / (n.cpu_s * i.tokens) for n, i in pairs]
    cpu_ratio = statistics.median(per_round)
    out.update(throughput_ratio=ratio, throughput_cost=1 - ratio, cpu_per_token_ratio=cpu_ratio)
    out["cpu_ratio_per_round"] = [round(r, 3) for r in per_round]
    out.update(cpu_overhead=1 - 1 / cpu_ratio, target_overhead=TARGET_OVERHEAD)
    out["basis"] = "capacity (tokens per CPU-second)" if paced else "throughput (tokens/s)"
    out["overhead"] = out["cpu_overhead"] if paced else out["throughput_cost"]
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
        f"throughput ratio:           {summary['throughput_ratio']:.3f} (wall-clock tokens/s)",
        f"CPU / token ratio:          {summary['cpu_per_token_ratio']:.3f} "
        f"(median of round pairs: {summary['cpu_ratio_per_round']})",
        f"capacity cost:              {summary['cpu_overhead']:.1%} (tokens per CPU-second)",
        f"overhead:                   {summary['overhead']:.1%} on {summary['basis']} "
        f"(target ≤ {TARGET_OVERHEAD:.0%}: {verdict})",
    ]
    if summary["basis"].startswith("throughput") and summary["noop"]["cpu_busy"] < 0.85:
        lines.append(
            "warning: the NoOp runs were not CPU-bound (CPU busy < 0.85: raise --concurrency, "
            "or the host is busy), so tokens/s understates the cost; trust CPU / token instead"
        )
    return "\n".join(lines)


def bench_overhead(
    jobs: Annotated[
        int | None, typer.Option(min=1, help="Jobs per run [default: 160 paced, 200 unpaced].")
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option(min=1, help="Jobs at once [default: 16].")
    ] = None,
    rounds: Annotated[int, typer.Option(min=1, help="Runs per variant (median).")] = 3,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed jobs per variant first.")] = 16,
    instrument: Annotated[
        str, typer.Option(help="Comma-separated parts to switch on: metrics, otel, langsmith.")
    ] = ",".join(PARTS),
    unpaced: Annotated[
        bool, typer.Option("--unpaced", help="No model latency: the worst case (see module doc).")
    ] = False,
    langsmith_sampling: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of jobs LangSmith traces.")
    ] = 1.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """NoOp adapters vs full instrumentation on one workload: tokens/s, CPU per token, spans."""
    parts = tuple(p.strip() for p in instrument.split(",") if p.strip())
    unknown = set(parts) - set(PARTS)
    if unknown:
        typer.echo(f"eco2: error: unknown --instrument part(s): {sorted(unknown)}", err=True)
        raise typer.Exit(2)
    jobs = jobs or DEFAULTS[not unpaced][0]
    concurrency = concurrency or DEFAULTS[not unpaced][1]
    llm = bench_settings(False, not unpaced).llm
    pace = f"paced: {llm.offline_ttft_s:g} s to first token, then {llm.offline_tokens_per_s:g}/s"
    pace = "unpaced (no model latency)" if unpaced else pace
    workload = f"{jobs} jobs × {rounds} rounds, {concurrency} at once, offline models {pace}"
    if "langsmith" in parts and langsmith_sampling < 1:
        workload += f"; LangSmith traces {langsmith_sampling:.0%} of jobs"
    with running_receiver() as url:
        run = run_benchmark(
            jobs, concurrency, rounds, warmup, parts, url, paced=not unpaced,
            sampling=langsmith_sampling,
        )  # fmt: skip
        results = asyncio.run(run)
    summary = summarise(results, parts, workload, paced=not unpaced)
    typer.echo(json.dumps(summary, ensure_ascii=False) if as_json else render(summary))
