"""``eco2 bench stream``: token streaming through the real Redis path to real SSE clients.

N jobs × T tokens at a model token rate are produced here (the worker side) into
``RedisEventStream``; the distributed API runs under uvicorn in its own process and SSE clients
(httpx) follow every job from a third process. The figures: tokens/s, worker CPU per token,
emission latency (produced → durable in Redis) and delivery latency (produced → received by a
client), for the coalesced design and, for comparison, the naive one-script-call-per-token design
carrying the whole text so far. ``--scenario`` runs the presets the README quotes, one per target.
"""

from __future__ import annotations

import asyncio
import json
import resource
import uuid
from enum import StrEnum
from typing import Annotated

import typer

from eco2.entrypoints.cli.errors import fail

MAX_DURATION_S = 300.0  # per design; keeps every run bounded
MAX_CONNECTIONS = 5000


class Scenario(StrEnum):
    """Presets, one per target of issue #3 (``all`` runs them in turn)."""

    EMISSION = "emission"
    EFFICIENCY = "efficiency"
    FANOUT = "fanout"
    CAPACITY = "capacity"
    ALL = "all"


class Design(StrEnum):
    """Which streaming design(s) to measure."""

    COALESCED = "coalesced"
    PER_TOKEN = "per-token"
    BOTH = "both"


# jobs, tokens, rate, clients per job, design
_PRESETS: dict[str, tuple[int, int, float, int, Design]] = {
    "custom": (4, 200, 100.0, 1, Design.BOTH),
    Scenario.EMISSION: (64, 500, 100.0, 1, Design.BOTH),
    Scenario.EFFICIENCY: (16, 2000, 2000.0, 1, Design.BOTH),
    Scenario.FANOUT: (1, 500, 100.0, 1000, Design.COALESCED),
    Scenario.CAPACITY: (500, 100, 10.0, 1, Design.COALESCED),
}


def bench_stream(
    scenario: Annotated[
        Scenario | None,
        typer.Option(help="A preset (its values are overridden by the options given)."),
    ] = None,
    jobs: Annotated[int | None, typer.Option(min=1, help="Concurrent jobs (streams).")] = None,
    tokens: Annotated[int | None, typer.Option(min=1, help="Tokens per job.")] = None,
    rate: Annotated[
        float | None, typer.Option(min=0.1, help="Model tokens per second, per job.")
    ] = None,
    clients_per_job: Annotated[
        int | None, typer.Option("--clients-per-job", min=1, help="SSE clients per job.")
    ] = None,
    design: Annotated[
        Design | None,
        typer.Option(help="Design(s) to measure; default both (coalesced for fanout, capacity)."),
    ] = None,
    flush_tokens: Annotated[
        int | None,
        typer.Option(
            "--flush-tokens",
            min=1,
            help="Coalescer: at most N tokens per entry (default: ECO2_COALESCE_TOKENS).",
        ),
    ] = None,
    flush_ms: Annotated[
        float | None,
        typer.Option(
            "--flush-ms",
            min=0,
            help=(
                "Coalescer: ms per write, nominal; writes are at least 3/4 of it apart "
                "(default: ECO2_COALESCE_DELAY_S)."
            ),
        ),
    ] = None,
    api_processes: Annotated[
        int,
        typer.Option(
            "--api-processes", min=1, max=8, help="API processes (replicas) sharing the clients."
        ),
    ] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Stream N jobs × T tokens through Redis to SSE clients; print throughput, CPU, latency."""
    from eco2.entrypoints import aio
    from eco2.entrypoints.cli.bench_stream_procs import BenchError
    from eco2.entrypoints.cli.bench_stream_report import evaluate, render
    from eco2.entrypoints.cli.bench_stream_run import RunConfig, run_names, run_scenarios
    from eco2.settings import ServingSettings

    serving = ServingSettings()  # the coalescing the worker would use, unless overridden
    names = ["custom"] if scenario is None else [scenario.value]
    if scenario is Scenario.ALL:
        names = [Scenario.EMISSION, Scenario.EFFICIENCY, Scenario.FANOUT, Scenario.CAPACITY]
    configs = []
    for name in names:
        p_jobs, p_tokens, p_rate, p_clients, p_design = _PRESETS[name]
        chosen = design or p_design
        configs.append(
            RunConfig(
                scenario=str(name),
                jobs=jobs or p_jobs,
                tokens=tokens or p_tokens,
                rate=rate or p_rate,
                clients_per_job=clients_per_job or p_clients,
                designs=("coalesced", "per-token") if chosen is Design.BOTH else (chosen.value,),
                flush_tokens=flush_tokens or serving.coalesce_tokens,
                flush_ms=serving.coalesce_delay_s * 1000 if flush_ms is None else flush_ms,
                api_processes=api_processes,
            )
        )
    for config in configs:
        _check_bounds(config.duration_s, config.jobs * config.clients_per_job)
    tag = uuid.uuid4().hex[:10]
    try:
        results = aio.run(
            run_scenarios(configs, serving.redis_url, serving.amqp_url.get_secret_value(), tag)
        )
    except BenchError as exc:
        raise fail(str(exc), 1) from None
    except (KeyboardInterrupt, asyncio.CancelledError):
        raise fail("interrupted; processes, keys and queues were cleaned up", 130) from None
    results = [evaluate(result) for result in results]
    if as_json:
        prefix, queue = run_names(tag)
        output = {"redis_prefix": prefix, "queue": queue, "scenarios": results}
        typer.echo(json.dumps(output, ensure_ascii=False))
    else:
        typer.echo("\n\n".join(render(result) for result in results))
    runs = [r[d] for r in results for d in ("coalesced", "per-token") if d in r]
    broken, unfinished = sum(r["mismatches"] for r in runs), sum(r["incomplete"] for r in runs)
    if broken:
        raise fail(
            f"{broken} client stream(s) did not get every token exactly once in order "
            f"({unfinished} never got their terminal event)",
            1,
        )


def _check_bounds(duration_s: float, connections: int) -> None:
    if duration_s > MAX_DURATION_S:
        raise fail(
            f"tokens / rate = {duration_s:.0f} s per design; at most {MAX_DURATION_S:.0f} s", 2
        )
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    # The API and the clients each hold one descriptor per connection, in their own process.
    limit = MAX_CONNECTIONS if soft == resource.RLIM_INFINITY else min(MAX_CONNECTIONS, soft - 100)
    if connections > limit:
        raise fail(
            f"jobs × clients-per-job = {connections} SSE connections; at most {limit} here "
            "(open-file limit)",
            2,
        )
