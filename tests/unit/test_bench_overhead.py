"""``eco2 bench overhead``: both variants run the same jobs; only the instrumented one exports."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from eco2.entrypoints.cli.bench import bench_app
from eco2.entrypoints.cli.bench_overhead import (
    PARTS,
    RunFigures,
    render,
    running_receiver,
    summarise,
)
from eco2.entrypoints.cli.bench_overhead_pair import PairedRunError, Plan, run_paired


def _plan(rounds: int = 2) -> Plan:
    return Plan(jobs=4, concurrency=2, rounds=rounds, warmup=1, paced=False, sampling=1.0)


def test_both_variants_run_the_same_jobs_side_by_side_and_only_one_exports() -> None:
    with running_receiver() as noop_url, running_receiver() as instrumented_url:
        urls = {"noop": noop_url, "instrumented": instrumented_url}
        results = run_paired(PARTS, urls, _plan())
    assert set(results) == {"noop", "instrumented"}
    noop, instrumented = results["noop"], results["instrumented"]
    assert len(noop) == len(instrumented) == 2
    for run in [*noop, *instrumented]:
        assert run.jobs == run.done == 4
        assert run.tokens > 0 and run.flushes > 0
        assert run.wall_s > 0 and run.cpu_s > 0
    # Same offline answers, so the same tokens in both variants.
    assert {r.tokens for r in noop} == {r.tokens for r in instrumented}
    assert all(r.spans == {} and r.runs == 0 for r in noop)
    for run in instrumented:
        assert run.spans["node"] > 0 and run.spans["chat"] > 0 and run.runs > 0
        # Spans are per node, sub-agent and model call, never per token.
        assert sum(run.spans.values()) < run.tokens / 2

    summary = summarise(results, PARTS)
    assert summary["noop"]["spans_per_job"] == 0
    assert summary["instrumented"]["spans_per_job"] > 0
    assert summary["instrumented"]["langsmith_runs_per_job"] > 0
    for variant in ("noop", "instrumented"):
        assert summary[variant]["tokens_per_s"] > 0 and summary[variant]["cpu_us_per_token"] > 0
    assert summary["throughput_ratio"] > 0 and summary["cpu_per_token_ratio"] > 0
    assert isinstance(summary["target_met"], bool)
    assert "throughput ratio" in render(summary)
    json.dumps(summary)


def test_summary_and_report_from_given_figures() -> None:
    def run(wall_s: float, cpu_s: float, spans: dict[str, int], runs: int) -> RunFigures:
        return RunFigures(10, 10, 500, 40, wall_s, cpu_s, spans, runs)

    results = {
        "noop": [run(1.0, 0.5, {}, 0)],
        "instrumented": [run(1.02, 0.6, {"node": 50, "chat": 10}, 80)],
    }
    summary = summarise(results, PARTS)
    assert summary["noop"]["tokens_per_s"] == 500
    assert summary["instrumented"]["spans_per_job"] == 6
    assert summary["instrumented"]["spans_per_job_by_kind"] == {"chat": 1, "node": 5}
    assert summary["instrumented"]["langsmith_runs_per_job"] == 8
    # The verdict is on CPU per token (1 - 0.5/0.6 here), not on the 2 % of wall-clock tokens/s.
    assert summary["throughput_ratio"] == pytest.approx(1 / 1.02)
    assert summary["overhead"] == pytest.approx(1 / 6) and summary["target_met"] is False
    assert summary["basis"].startswith("capacity")
    assert "(target ≤ 3%: NOT met)" in render(summary)
    cheap = {"noop": results["noop"], "instrumented": [run(1.0, 0.51, {}, 0)]}
    assert summarise(cheap, PARTS)["target_met"] is True
    assert "(target ≤ 3%: met)" in render(summarise(cheap, PARTS, "paced workload"))
    assert "workload: paced workload" in render(summarise(cheap, PARTS, "paced workload"))


def test_unknown_instrumentation_part_is_a_usage_error() -> None:
    result = CliRunner().invoke(bench_app, ["overhead", "--instrument", "metrics,zipkin"])
    assert result.exit_code == 2
    assert "zipkin" in result.output


def test_a_failing_variant_fails_the_run_and_stops_the_other() -> None:
    with running_receiver() as url:
        # Nothing listens on port 9 (discard): the NoOp variant cannot read its receiver.
        urls = {"noop": "http://127.0.0.1:9", "instrumented": url}
        with pytest.raises(PairedRunError, match="noop"):
            run_paired(PARTS, urls, _plan(rounds=1))
