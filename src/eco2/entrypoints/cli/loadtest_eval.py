"""SLO verdicts and the summary of one ``eco2 loadtest`` run (DESIGN.md §5, deploy/slo.yaml).

Full-response SLOs (``chat_request_duration_seconds{intent=...}``) are judged on the client's
end-to-end latency (POST to terminal event) of that intent's jobs, failed ones included: a job
that ended in ``error`` counts with its time, one that got no answer at all as slower than any
threshold. Every other SLO is judged server side, on the histogram observations made during the
run (``/metrics`` bucket deltas).

Client-side percentiles are nearest-rank, so a P99 passes exactly when at least 99 % of the
jobs are within the threshold: the same rule as the server side's bucket shares.

A percentile is judged only on as many samples as it takes to mean anything
(:data:`MIN_SAMPLES`: 100 for a P99; ``--min-samples`` lowers it); the others are listed as not
judged. An SLO none of whose percentiles could be judged is ``insufficient``, one with no
observations ``no_data``, and either keeps the run from passing. Only an SLO the run could not
exercise (its intent was left out with ``--intents``) is ``skipped``. A metrics target that
could not be scraped, before or after the run, also fails it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from eco2.entrypoints.cli.deploy_slo import PERCENTILES, DeploySpec, Slo
from eco2.entrypoints.cli.loadtest_prom import (
    Scrape,
    bucket_deltas,
    bucket_quantile,
    cpu_by_target,
    delta,
    fraction_within,
    mean_by_label,
)
from eco2.entrypoints.cli.loadtest_run import RunResult

CLIENT_METRIC = "chat_request_duration_seconds"
QUANTILE = {"p50": 0.50, "p95": 0.95, "p99": 0.99}
MIN_SAMPLES = {p: math.ceil(1 / (1 - q) - 1e-9) for p, q in QUANTILE.items()}  # 2, 20, 100
PASSING = frozenset({"pass", "skipped"})
# Server-side SLOs that only the named intent exercises (the RAG sub-agent runs for waste).
_EXERCISED_BY = {"waste_rag": "waste"}


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..1): the smallest value with at least that share of
    ``values`` at or under it; ``None`` for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered) - 1e-9) - 1)]


@dataclass
class Verdict:
    """One SLO judged: observed value per percentile against its threshold."""

    name: str
    feature: str
    source: str  # "client" (end-to-end, measured by the load generator) | "server" (/metrics)
    samples: int
    thresholds: dict[str, float]
    observed: dict[str, float | None] = field(default_factory=dict)
    passed: dict[str, bool] = field(default_factory=dict)
    status: str = "no_data"  # pass | fail | insufficient | no_data | skipped
    note: str = ""
    over: dict[str, int] = field(default_factory=dict)  # samples over each threshold

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def json_safe(value: Any) -> Any:
    """``value`` with infinite latencies (jobs that got no answer) as ``null``: JSON has no
    infinity, and strict parsers refuse ``Infinity``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def latencies(run: RunResult, intent: str) -> list[float]:
    """End-to-end latency of every ``intent`` job, as the verdict counts them.

    Args:
        run: The run's client-side results.
        intent: The intent whose jobs to take.

    Returns:
        One value per job: its time to the terminal event (``done`` or ``error``), or infinity
        for a job that got no terminal event (an HTTP error, a transport error, a stream that
        stopped): slower than any threshold.
    """
    return [j.e2e_s if j.e2e_s is not None else math.inf for j in run.jobs if j.intent == intent]


def _client_verdict(slo: Slo, run: RunResult, min_samples: int | None) -> Verdict:
    intent = dict(slo.selector).get("intent", "")
    values = latencies(run, intent)
    verdict = Verdict(slo.name, slo.feature, "client", len(values), dict(slo.thresholds))
    verdict.note = f"end-to-end latency of '{intent}' jobs (POST to terminal event)"
    if intent not in run.intents:
        verdict.status, verdict.note = "skipped", verdict.note + "; intent not in the run"
        return verdict
    if not values:
        verdict.note += "; no job ran"
        return verdict
    for p, threshold in slo.thresholds.items():
        value = percentile(values, QUANTILE[p])
        verdict.observed[p] = value
        verdict.passed[p] = value is not None and value <= threshold
        verdict.over[p] = sum(1 for v in values if v > threshold)
    return _judged(verdict, min_samples)


def _judged(verdict: Verdict, min_samples: int | None) -> Verdict:
    """Keep the verdicts of the percentiles with enough samples (``min_samples`` overrides
    :data:`MIN_SAMPLES`) and set the status: ``fail`` if one of them misses, ``insufficient`` if
    there is none, else ``pass``."""
    needs = {p: MIN_SAMPLES[p] if min_samples is None else min_samples for p in verdict.passed}
    unjudged = [
        p
        for p in verdict.passed
        if verdict.samples < needs[p] and not _already_missed(verdict, p, needs[p])
    ]
    verdict.passed = {p: ok for p, ok in verdict.passed.items() if p not in unjudged}
    if unjudged:
        short = ", ".join(f"{p} needs {needs[p]}" for p in unjudged)
        verdict.note += f"; not judged on {verdict.samples} samples: {short}"
    if not all(verdict.passed.values()):
        verdict.status = "fail"
    elif not verdict.passed:
        verdict.status = "insufficient"
    else:
        verdict.status = "pass"
    return verdict


def _already_missed(verdict: Verdict, pct: str, needs: int) -> bool:
    """Whether ``pct`` misses whatever samples came to fill its minimum: more of the samples
    are over the threshold than its share allows of ``needs`` (a P99 allows 1 in 100)."""
    over = verdict.over.get(pct, 0)
    return over > math.floor((1 - QUANTILE[pct]) * needs + 1e-9)


def _server_verdict(
    slo: Slo, run: RunResult, before: Scrape, after: Scrape, min_samples: int | None
) -> Verdict:
    selector = dict(slo.selector)
    buckets = bucket_deltas(before, after, slo.metric, selector)
    count = int(buckets[-1][1]) if buckets else 0
    verdict = Verdict(slo.name, slo.feature, "server", count, dict(slo.thresholds))
    verdict.note = f"server-side: {slo.metric} bucket deltas during the run"
    if count <= 0:
        needed = next((_EXERCISED_BY[v] for v in selector.values() if v in _EXERCISED_BY), None)
        if needed is not None and needed not in run.intents:
            verdict.status, verdict.note = "skipped", verdict.note + f"; no '{needed}' jobs run"
        else:
            verdict.note += "; no observations (is the process that records it scraped?)"
        return verdict
    for p, threshold in slo.thresholds.items():
        verdict.observed[p] = bucket_quantile(buckets, QUANTILE[p])
        within = fraction_within(buckets, threshold)
        verdict.over[p] = round(count * (1 - within)) if within is not None else count
        # The percentile is within the threshold iff that share of observations is under it.
        verdict.passed[p] = within is not None and within >= QUANTILE[p] - 1e-9
    return _judged(verdict, min_samples)


def evaluate(
    spec: DeploySpec,
    run: RunResult,
    before: Scrape,
    after: Scrape,
    min_samples: int | None = None,
) -> list[Verdict]:
    """Judge every SLO of ``spec`` (``min_samples``: see :func:`_judged`)."""
    verdicts = []
    for slo in spec.slos:
        if slo.metric == CLIENT_METRIC and "intent" in dict(slo.selector):
            verdicts.append(_client_verdict(slo, run, min_samples))
        else:
            verdicts.append(_server_verdict(slo, run, before, after, min_samples))
    return verdicts


def _stats(values: list[float]) -> dict[str, float | None]:
    return {p: percentile(values, QUANTILE[p]) for p in PERCENTILES} | {
        "max": max(values) if values else None
    }


def per_intent(run: RunResult) -> dict[str, dict[str, Any]]:
    """Client-side figures per intent.

    The end-to-end percentiles (``e2e_s``) are taken over the verdict's population, every job
    of the intent (:func:`latencies`; a job with no answer is infinite), so the figures shown
    next to a verdict are the ones it was judged on. Time to first token and tokens/s describe
    the completed jobs' answers.

    Args:
        run: The run's client-side results.

    Returns:
        ``{intent: {jobs, completed, errors, unanswered, recoveries, e2e_s, ttft_s,
        tokens_per_s, tokens_mean}}`` (``unanswered``: jobs with no terminal event, whose
        latency ``summary.json`` can only write as ``null``).
    """
    out: dict[str, dict[str, Any]] = {}
    for intent in run.intents:
        jobs = [j for j in run.jobs if j.intent == intent]
        done = [j for j in jobs if j.ok]
        out[intent] = {
            "jobs": len(jobs),
            "completed": len(done),
            "errors": len(jobs) - len(done),
            "unanswered": sum(1 for j in jobs if j.e2e_s is None),
            "recoveries": sum(j.recoveries for j in jobs),
            "e2e_s": _stats(latencies(run, intent)),
            "ttft_s": _stats([j.ttft_s for j in done if j.ttft_s is not None]),
            "tokens_per_s": _stats([j.tokens_per_s for j in done if j.tokens_per_s]),
            "tokens_mean": (sum(j.tokens for j in done) / len(done)) if done else None,
        }
    return out


def server_figures(before: Scrape, after: Scrape, wall_s: float) -> dict[str, Any]:
    """Where the time went on the server: node and queue means, CPU per scraped process."""
    nodes = mean_by_label(before, after, "chat_node_duration_seconds", "node")
    queue = mean_by_label(before, after, "chat_queue_wait_seconds", "")
    ttft = mean_by_label(before, after, "chat_time_to_first_token_seconds", "intent")
    return {
        "targets": sorted(after.per_target),
        "scrape_errors": list(dict.fromkeys(before.errors + after.errors)),
        "node_mean_s": {k: v[1] for k, v in sorted(nodes.items())},
        "node_count": {k: int(v[0]) for k, v in sorted(nodes.items())},
        "queue_wait_mean_s": queue[""][1] if "" in queue else None,
        "ttft_mean_s": {k: v[1] for k, v in sorted(ttft.items())},
        "cpu_cores": cpu_by_target(before, after, wall_s),
        "tokens": delta(before, after, "chat_stream_tokens_total"),
        "stream_recoveries": delta(before, after, "chat_stream_recovery_total"),
    }


def summarize(
    url: str,
    run: RunResult,
    verdicts: list[Verdict],
    server: dict[str, Any],
    max_error_rate: float,
) -> dict[str, Any]:
    """The ``summary.json`` document; ``passed`` is the exit-code verdict."""
    total = len(run.jobs)
    done = [j for j in run.jobs if j.ok]
    failed = total - len(done)
    error_rate = failed / total if total else 1.0
    outcomes: dict[str, int] = {}
    for job in run.jobs:
        outcomes[job.outcome] = outcomes.get(job.outcome, 0) + 1
    wall = run.wall_s or 1.0
    slo_ok = all(v.status in PASSING for v in verdicts)
    scraped = not server.get("scrape_errors")
    return {
        "url": url,
        **run.to_dict(),
        "jobs": {
            "total": total,
            "completed": len(done),
            "failed": failed,
            "error_rate": error_rate,
            "outcomes": outcomes,
            "recoveries": sum(j.recoveries for j in run.jobs),
            "throughput_jobs_per_s": len(done) / wall,
            "tokens_per_s": sum(j.tokens for j in run.jobs) / wall,
        },
        "per_intent": per_intent(run),
        "slo": [v.to_dict() for v in verdicts],
        "server": server,
        "max_error_rate": max_error_rate,
        "error_rate_ok": total > 0 and error_rate <= max_error_rate,
        "slo_ok": slo_ok,
        "scrape_ok": scraped,
        "passed": slo_ok and scraped and total > 0 and error_rate <= max_error_rate,
        "errors_sample": [j.detail or j.outcome for j in run.jobs if not j.ok][:10],
    }
