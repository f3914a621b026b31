"""``eco2 bench overhead``: what full instrumentation costs the streaming pipeline.

One workload (the real pipeline, offline models unpaced so it is CPU-bound, in-memory events) runs
with the NoOp adapters and fully instrumented: Prometheus on a fresh registry, OpenTelemetry with a
``BatchSpanProcessor`` exporting OTLP/HTTP, LangSmith posting run trees, both to a receiver in a
child process (its CPU is not counted; the exporters' threads are: ``time.process_time`` covers the
process). Variants alternate (ABBA), medians are reported, telemetry is drained inside the window.
"""

from __future__ import annotations

import asyncio
import gc
import gzip
import json
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import typer

if TYPE_CHECKING:
    from eco2.bootstrap import Application
    from eco2.domain.events import StreamEvent
    from eco2.pipeline.context import Ports
    from eco2.settings import Settings

TARGET_OVERHEAD = 0.03  # instrumentation may cost at most 3 % of tokens/s
MESSAGES = ("페트병 어떻게 버려?", "이코 소개해줘", "소파 버리는 방법 알려줘", "안녕하세요")
PARTS = ("metrics", "otel", "langsmith")
# ``/info`` as a LangSmith server answers it: JSON batches (not multipart) of up to 100 runs.
_LIMITS = {"size_limit": 100, "size_limit_bytes": 20_971_520, "scale_up_qsize_trigger": 1000}
_LIMITS |= {"scale_up_nthreads_limit": 1, "scale_down_nempty_trigger": 4}
_INFO = {"batch_ingest_config": {"use_multipart_endpoint": False, **_LIMITS}}


class _Receiver(BaseHTTPRequestHandler):
    """OTLP/HTTP ``/v1/traces`` and the LangSmith ingest endpoints; counts what arrives."""

    protocol_version = "HTTP/1.1"  # keep-alive, as real collectors do
    spans: ClassVar[Counter[str]] = Counter()
    runs: ClassVar[set[str]] = set()

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _body(self) -> bytes:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        return gzip.decompress(body) if self.headers.get("content-encoding") == "gzip" else body

    def _reply(self, body: bytes = b"{}", kind: str = "application/json") -> None:
        self.send_response(200)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        """``/info`` for the LangSmith SDK, ``/stats`` for the benchmark."""
        stats = {"spans": dict(self.spans), "runs": len(self.runs)}
        self._reply(json.dumps(_INFO if self.path.endswith("/info") else stats).encode())

    def do_POST(self) -> None:
        """Count spans (parsed from protobuf) and distinct LangSmith run ids."""
        body = self._body()
        if self.path.endswith("/v1/traces"):
            from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as otlp

            request = otlp.ExportTraceServiceRequest.FromString(body)
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    self.spans.update(span.name.split(" ")[0] for span in scope.spans)
            self._reply(b"", "application/x-protobuf")
            return
        if self.path.endswith("/runs/batch"):  # the SDK batches (auto_batch_tracing)
            batch = json.loads(body or b"{}")
            self.runs.update(str(r["id"]) for key in ("post", "patch") for r in batch.get(key, []))
        self._reply()

    do_PATCH = do_POST  # a run update: nothing to count


def serve_receiver() -> None:
    """Serve the receiver on a free loopback port; print the port (the child process's main)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    print(server.server_address[1], flush=True)
    server.serve_forever()


@contextmanager
def running_receiver() -> Iterator[str]:
    """Run the receiver in a child process for the ``with`` block; yield its base URL."""
    code = "from eco2.entrypoints.cli.bench_overhead import serve_receiver; serve_receiver()"
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdout is not None
            yield f"http://127.0.0.1:{int(child.stdout.readline())}"
        finally:
            child.terminate()  # leaving the block closes the pipe and waits


def receiver_stats(url: str) -> dict[str, Any]:
    """What the receiver has counted so far."""
    with urllib.request.urlopen(f"{url}/stats", timeout=10) as response:
        return dict(json.load(response))


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


def bench_settings(metrics: bool) -> Settings:
    """Offline models, unpaced (CPU-bound), other settings from the environment as ECO2 runs."""
    from eco2.settings import LLMSettings, Settings, TelemetrySettings

    return Settings(
        environment="bench",
        llm=LLMSettings(provider="offline", offline_ttft_s=0.0, offline_tokens_per_s=0.0),
        telemetry=TelemetrySettings(metrics_enabled=metrics),
    )


def build_variant(name: str, ports: Ports, parts: tuple[str, ...], url: str) -> Variant:
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
        config = ls.LangSmithConfig(True, "bench-key", "eco2-bench", url)
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
) -> dict[str, list[RunFigures]]:
    """Warm both variants up, then alternate them (ABBA) for ``rounds`` rounds each.

    Args:
        jobs: Jobs per timed run.
        concurrency: Jobs running at once.
        rounds: Timed runs per variant.
        warmup: Untimed jobs per variant first.
        parts: Instrumentation switched on in the instrumented variant.
        url: The receiver's base URL.
        ports: Adapters to share (default: the offline ones, unpaced).
    """
    from eco2.bootstrap import build_ports

    ports = ports or build_ports(bench_settings(False))
    variants = [build_variant(n, ports, p, url) for n, p in (("noop", ()), ("instrumented", parts))]
    for variant in variants:
        await measure(variant, warmup, concurrency, url)
    results: dict[str, list[RunFigures]] = {v.name: [] for v in variants}
    for index in range(rounds):
        for variant in variants if index % 2 == 0 else variants[::-1]:
            results[variant.name].append(await measure(variant, jobs, concurrency, url))
    return results


def summarise(results: dict[str, list[RunFigures]], parts: tuple[str, ...]) -> dict[str, Any]:
    """Medians per variant, the throughput ratio, per-job telemetry volume, the verdict."""
    out: dict[str, Any] = {"instrumentation": list(parts), "rounds": {}}
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
            "spans_per_job": spans,
            "spans_per_job_by_kind": {k: v / last.jobs for k, v in sorted(last.spans.items())},
            "langsmith_runs_per_job": sum(r.runs for r in runs) / sum(r.jobs for r in runs),
        }
        out["rounds"][name] = [round(r.tokens / r.wall_s, 1) for r in runs]
    ratio = out["instrumented"]["tokens_per_s"] / out["noop"]["tokens_per_s"]
    cpu_ratio = out["instrumented"]["cpu_us_per_token"] / out["noop"]["cpu_us_per_token"]
    # Tokens per CPU-second is the capacity figure; it is steadier than wall time on a busy host.
    out.update(throughput_ratio=ratio, overhead=1 - ratio, cpu_per_token_ratio=cpu_ratio)
    out.update(cpu_overhead=1 - 1 / cpu_ratio, target_overhead=TARGET_OVERHEAD)
    out["target_met"] = out["overhead"] <= TARGET_OVERHEAD
    return out


def render(summary: dict[str, Any]) -> str:
    """The human-readable report."""
    lines = [f"instrumentation: {', '.join(summary['instrumentation']) or 'none'}"]
    lines.append(f"{'':28}{'noop':>14}{'instrumented':>14}")
    rows = [("jobs done", "done", "{:.0f}"), ("tokens / job", "tokens_per_job", "{:.1f}")]
    rows += [("token entries / job", "token_entries_per_job", "{:.1f}")]
    rows += [("tokens/s (median)", "tokens_per_s", "{:,.0f}")]
    rows += [("CPU µs / token (median)", "cpu_us_per_token", "{:.1f}")]
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
        f"throughput ratio:           {summary['throughput_ratio']:.3f}",
        f"CPU / token ratio:          {summary['cpu_per_token_ratio']:.3f}",
        f"capacity cost:              {summary['cpu_overhead']:.1%} (tokens per CPU-second)",
        f"overhead:                   {summary['overhead']:.1%} "
        f"(target ≤ {TARGET_OVERHEAD:.0%}: {verdict})",
    ]
    return "\n".join(lines)


def bench_overhead(
    jobs: Annotated[int, typer.Option(min=1, help="Jobs per run.")] = 200,
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs running at once.")] = 16,
    rounds: Annotated[int, typer.Option(min=1, help="Runs per variant (median).")] = 3,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed jobs per variant first.")] = 16,
    instrument: Annotated[
        str, typer.Option(help="Comma-separated parts to switch on: metrics, otel, langsmith.")
    ] = ",".join(PARTS),
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """NoOp adapters vs full instrumentation on one workload: tokens/s, CPU per token, spans."""
    parts = tuple(p.strip() for p in instrument.split(",") if p.strip())
    unknown = set(parts) - set(PARTS)
    if unknown:
        typer.echo(f"eco2: error: unknown --instrument part(s): {sorted(unknown)}", err=True)
        raise typer.Exit(2)
    with running_receiver() as url:
        results = asyncio.run(run_benchmark(jobs, concurrency, rounds, warmup, parts, url))
    summary = summarise(results, parts)
    typer.echo(json.dumps(summary, ensure_ascii=False) if as_json else render(summary))
