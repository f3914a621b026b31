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
- ``--unpaced``: no model latency, so each variant saturates its half of the shared core and the
  entries are full coalescer batches in both; the figure is still CPU per token. The worst case:
  instrumentation against a pipeline that does almost nothing per token.

Instrumented: Prometheus on a fresh registry, OpenTelemetry with a ``BatchSpanProcessor``
exporting OTLP/HTTP, LangSmith posting run trees, both to a receiver in a child process (its CPU
is not counted; the exporters' threads' is). The startup heap is frozen as the worker freezes it.
The two variants run at the same time in two processes on one core (``bench_overhead_pair``),
and telemetry is drained inside the timed window.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from eco2.entrypoints.cli.bench_overhead_pair import PairedRunError, Plan, run_paired
from eco2.entrypoints.cli.bench_overhead_report import RunFigures, render, summarise
from eco2.entrypoints.cli.bench_receiver import receiver_stats, running_receiver
from eco2.entrypoints.cli.errors import fail

if TYPE_CHECKING:
    from eco2.bootstrap import Application
    from eco2.domain.events import StreamEvent
    from eco2.pipeline.context import Ports
    from eco2.settings import Settings

__all__ = ["RunFigures", "bench_overhead", "render", "running_receiver", "summarise"]

MESSAGES = ("페트병 어떻게 버려?", "이코 소개해줘", "소파 버리는 방법 알려줘", "안녕하세요")
PARTS = ("metrics", "otel", "langsmith")
# paced → (jobs, concurrency) per variant. Paced: 8 streams at 80 tokens/s keep a quarter of a
# core busy, so both variants together stay below saturation (see above); unpaced: each variant
# saturates its half of the shared core.
DEFAULTS = {True: (120, 8), False: (200, 16)}


@dataclass
class Variant:
    """One configuration: how to build its application, and the calls that drain its telemetry."""

    name: str
    build: Callable[[], Application]  # a fresh one per run (see ``measure``)
    tally: Counter[str]  # streamed tokens and token entries (coalescer flushes)
    drains: list[Callable[[], Any]]


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

    def build() -> Application:
        return build_application(
            settings, ports=ports, telemetry=telemetry, tracer=tracer, listener=listen
        )

    return Variant(name, build, tally, drains)


async def measure(variant: Variant, jobs: int, concurrency: int, url: str) -> RunFigures:
    """One timed run (telemetry drained inside the window) and what the receiver got from it."""
    from eco2.domain.chat import ChatJob, ChatRequest

    gate = asyncio.Semaphore(concurrency)

    async def one(index: int) -> bool:
        async with gate:
            job = ChatJob(ChatRequest(MESSAGES[index % len(MESSAGES)], user_id="bench"))
            return await app.process_chat.execute(job) is not None

    # A fresh application per run: the in-memory event streams and checkpointer keep every job
    # (the worker's live in Redis and PostgreSQL), and a heap growing from run to run would make
    # each full garbage collection dearer than the last.
    app = variant.build()

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


def bench_overhead(
    jobs: Annotated[
        int | None,
        typer.Option(min=1, help="Jobs per round [default: 120 paced, 200 unpaced]."),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, help="Jobs at once [default: 8 paced, 16 unpaced]."),
    ] = None,
    rounds: Annotated[int, typer.Option(min=1, help="Rounds (median of the round pairs).")] = 3,
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
        raise fail(f"unknown --instrument part(s): {sorted(unknown)}")
    jobs = jobs or DEFAULTS[not unpaced][0]
    concurrency = concurrency or DEFAULTS[not unpaced][1]
    llm = bench_settings(False, not unpaced).llm
    pace = f"paced: {llm.offline_ttft_s:g} s to first token, then {llm.offline_tokens_per_s:g}/s"
    pace = "unpaced (no model latency)" if unpaced else pace
    workload = f"{jobs} jobs × {rounds} rounds, {concurrency} at once, offline models {pace}"
    if "langsmith" in parts and langsmith_sampling < 1:
        workload += f"; LangSmith traces {langsmith_sampling:.0%} of jobs"
    plan = Plan(jobs, concurrency, rounds, warmup, not unpaced, langsmith_sampling)
    workload += f"; both variants at once on core {plan.cpu}"
    with running_receiver() as noop_url, running_receiver() as instrumented_url:
        urls = {"noop": noop_url, "instrumented": instrumented_url}
        try:
            results = run_paired(parts, urls, plan)
        except PairedRunError as exc:
            raise fail(str(exc), 1) from None
    summary = summarise(results, parts, workload)
    typer.echo(json.dumps(summary, ensure_ascii=False) if as_json else render(summary))
