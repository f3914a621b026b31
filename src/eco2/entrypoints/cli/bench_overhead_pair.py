"""``eco2 bench overhead``'s runner: both variants at the same time, on the same core.

The CPU a job costs on this kind of machine drifts by ±15 % from one quarter-minute to the next
(other tenants of the host), far more than the few per cent being measured: two identical runs
back to back differed by that much, and alternating the variants (ABBA) still left round pairs
spread from −2 % to +38 %. So the NoOp and the instrumented variant run in two processes pinned
to one core, each timing its own rounds, and each round starts in both at once (a barrier): a
round pair sees the same host. Both variants NoOp (``--instrument ""``), this read −1.3 %
(pairs −2.8 … +0.5 %). A paced process keeps below half the core (``bench_overhead.DEFAULTS``),
so neither waits for the other more than a shared event loop would make it wait.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sys
import threading
import traceback
from dataclasses import dataclass, field
from multiprocessing.synchronize import Barrier
from typing import Any

from eco2.entrypoints.cli.bench_overhead_report import RunFigures

ROUND_TIMEOUT_S = 600.0  # a round that takes longer than this has hung; the run fails
VARIANTS = ("noop", "instrumented")


def shared_core() -> int:
    """The core both variants are pinned to: the highest this process may use."""
    return max(os.sched_getaffinity(0))


@dataclass(frozen=True)
class Plan:
    """What each variant runs: ``rounds`` timed rounds of ``jobs`` jobs, ``concurrency`` at once,
    after ``warmup`` untimed jobs, paced or not, LangSmith tracing ``sampling`` of the jobs, both
    processes pinned to core ``cpu``."""

    jobs: int
    concurrency: int
    rounds: int
    warmup: int
    paced: bool
    sampling: float
    cpu: int = field(default_factory=shared_core)


class PairedRunError(RuntimeError):
    """A variant's process failed or hung; the message says which and why."""


def _variant_process(
    name: str, parts: tuple[str, ...], url: str, plan: Plan, barrier: Barrier,
    out: Any,
) -> None:  # fmt: skip
    """One variant's process: pin, warm up, then time each round once both are at the line."""
    from eco2.bootstrap import build_ports
    from eco2.entrypoints.cli.bench_overhead import bench_settings, build_variant, measure
    from eco2.entrypoints.heap import freeze_startup_heap

    async def rounds() -> None:
        ports = build_ports(bench_settings(False, plan.paced))
        variant = build_variant(name, ports, parts, url, plan.sampling)
        await measure(variant, plan.warmup, plan.concurrency, url)
        freeze_startup_heap()  # as the worker does before it consumes jobs
        for _ in range(plan.rounds):
            await asyncio.to_thread(barrier.wait, ROUND_TIMEOUT_S)
            out.put((name, await measure(variant, plan.jobs, plan.concurrency, url)))

    try:
        os.sched_setaffinity(0, {plan.cpu})
        asyncio.run(rounds())
    except threading.BrokenBarrierError:
        # The other variant failed (its message is already in the pipe: it flushes it before
        # it breaks the barrier), or it hung and this wait timed out.
        out.put((name, "the other variant failed or did not start its round"))
        raise SystemExit(1) from None
    except BaseException as exc:
        out.put((name, f"{type(exc).__name__}: {exc}"))
        out.close()
        out.join_thread()  # the message is in the pipe before the other side hears of it
        barrier.abort()  # the other side must not wait for us
        traceback.print_exc(file=sys.stderr)
        raise SystemExit(1) from None


def run_paired(
    parts: tuple[str, ...], urls: dict[str, str], plan: Plan
) -> dict[str, list[RunFigures]]:
    """Run the NoOp and the instrumented variant side by side; their rounds, by variant.

    Args:
        parts: Instrumentation switched on in the instrumented variant.
        urls: Each variant's own receiver (its span and run counts are its own).
        plan: What to run, and on which core.

    Raises:
        PairedRunError: A variant's process failed, or a round did not finish in time.
    """
    context = multiprocessing.get_context("spawn")  # no threads or loops inherited
    barrier = context.Barrier(len(VARIANTS))
    out = context.Queue()
    processes = {
        name: context.Process(
            target=_variant_process,
            args=(name, parts if name == "instrumented" else (), urls[name], plan, barrier, out),
            name=f"eco2-bench-{name}",
        )
        for name in VARIANTS
    }
    for process in processes.values():
        process.start()
    results: dict[str, list[RunFigures]] = {name: [] for name in VARIANTS}
    try:
        for _ in range(len(VARIANTS) * plan.rounds):
            name, figures = _next(out, processes)
            if not isinstance(figures, RunFigures):
                raise PairedRunError(f"the {name} variant failed: {figures}")
            results[name].append(figures)
    finally:
        for process in processes.values():
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join()
    return results


def _next(out: Any, processes: dict[str, Any]) -> tuple[str, Any]:
    """The next message from a variant, failing when a process died without sending one."""
    import queue

    waited = 0.0
    while True:
        try:
            name, message = out.get(timeout=1.0)
            return str(name), message
        except queue.Empty:
            waited += 1.0
        dead = [n for n, p in processes.items() if p.exitcode not in (None, 0)]
        if dead:  # its last words may still be on their way
            try:
                name, message = out.get(timeout=5.0)
                return str(name), message
            except queue.Empty:
                raise PairedRunError(f"the {dead[0]} variant exited with no result") from None
        if waited > ROUND_TIMEOUT_S * 2:  # a warm-up plus a round
            raise PairedRunError(f"no round finished within {ROUND_TIMEOUT_S * 2:.0f} s")
