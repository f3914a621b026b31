"""SLO verdicts of ``eco2 loadtest``: a run passes only on enough data, failed jobs included."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from eco2.entrypoints.cli.deploy_slo import load_spec
from eco2.entrypoints.cli.loadtest_eval import evaluate, json_safe, server_figures, summarize
from eco2.entrypoints.cli.loadtest_findmax import bottleneck, levels_html
from eco2.entrypoints.cli.loadtest_html import render
from eco2.entrypoints.cli.loadtest_prom import Scrape
from eco2.entrypoints.cli.loadtest_run import JobResult, RunResult
from eco2.entrypoints.cli.loadtest_table import verdict_table

SPEC = load_spec(Path(__file__).parents[2] / "deploy" / "slo.yaml")
INTENTS = ["waste", "general"]
NOT_A_NUMBER = re.compile(r"\b(inf|nan)\b", re.IGNORECASE)  # a float shown raw, not as a word


def histogram(name: str, values: list[float], **labels: str) -> dict[str, dict[Any, float]]:
    """Cumulative buckets of ``values`` as a scrape holds them."""
    bounds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0, float("inf")]
    rows: dict[Any, float] = {}
    for bound in bounds:
        le = "+Inf" if bound == float("inf") else repr(bound)
        key = frozenset({**labels, "le": le}.items())
        rows[key] = sum(1 for v in values if v <= bound)
    return {f"{name}_bucket": rows}


def scrape(n: int, *, rag: bool = True) -> Scrape:
    """Server-side observations: ``n`` fast classifications, RAG searches and token writes."""
    samples: dict[str, dict[Any, float]] = {}
    samples |= histogram("chat_node_duration_seconds", [0.01] * n, node="intent", status="ok")
    if rag:
        samples |= histogram("chat_subagent_duration_seconds", [0.2] * n, subagent="waste_rag")
    samples |= histogram("chat_stream_token_latency_seconds", [0.002] * n, node="answer")
    return Scrape(samples=samples)


def run(jobs: list[JobResult], intents: list[str] = INTENTS) -> RunResult:
    return RunResult(users=1, duration_s=1, ramp_s=0, intents=intents, wall_s=10, jobs=jobs)


def judge(
    result: RunResult,
    after: Scrape,
    min_samples: int | None = None,
    before: Scrape | None = None,
) -> dict[str, Any]:
    before = before or Scrape()
    verdicts = evaluate(SPEC, result, before, after, min_samples)
    server = server_figures(before, after, result.wall_s)
    return summarize("http://x", result, verdicts, server, 0.05)


def fast(intent: str, count: int) -> list[JobResult]:
    return [JobResult(intent, 0.0, "done", e2e_s=0.5) for _ in range(count)]


def statuses(summary: dict[str, Any]) -> dict[str, str]:
    return {v["name"]: v["status"] for v in summary["slo"]}


def test_enough_fast_samples_pass() -> None:
    summary = judge(run(fast("waste", 100) + fast("general", 100)), scrape(100))
    assert set(statuses(summary).values()) == {"pass"} and summary["passed"]


def test_one_sample_is_insufficient_and_fails_the_run() -> None:
    summary = judge(run(fast("waste", 1) + fast("general", 1)), scrape(1))
    assert statuses(summary)["full_response_general"] == "insufficient"
    assert not summary["passed"]
    lowered = judge(run(fast("waste", 1) + fast("general", 1)), scrape(1), min_samples=1)
    assert lowered["passed"]  # the caller accepted judging on one sample (--min-samples 1)


def test_missing_server_data_or_a_failed_scrape_fails_the_run() -> None:
    jobs = run(fast("waste", 100) + fast("general", 100))
    assert statuses(judge(jobs, Scrape()))["intent_classification"] == "no_data"
    assert not judge(jobs, Scrape())["passed"]
    for where in ("before", "after"):  # a failed first scrape would judge lifetime counts
        refused = Scrape(errors=["http://w/metrics: refused"])
        failed = (
            judge(jobs, scrape(100), before=refused)
            if where == "before"
            else judge(jobs, Scrape(scrape(100).samples, errors=refused.errors))
        )
        assert not failed["passed"] and not failed["scrape_ok"], where


def test_an_intent_left_out_of_the_run_is_skipped_not_failed() -> None:
    summary = judge(run(fast("general", 100), intents=["general"]), scrape(100))
    assert statuses(summary)["full_response_waste"] == "skipped"
    summary = judge(run(fast("general", 100), intents=["general"]), scrape(100, rag=False))
    assert statuses(summary)["rag_search"] == "skipped"  # only waste jobs search
    assert summary["passed"]


def test_failed_and_unanswered_jobs_count_in_the_latency_alike() -> None:
    # A P99 allows 1 job in 100 over the threshold, failed or never answered; 3 in 100 miss it.
    for kind in ("error", "no_terminal"):
        for bad_jobs, status in ((1, "pass"), (3, "fail")):
            bad = [
                JobResult("waste", 0.0, kind, e2e_s=120.0 if kind == "error" else None)
                for _ in range(bad_jobs)
            ]
            jobs = fast("waste", 100 - bad_jobs) + bad + fast("general", 100)
            summary = judge(run(jobs), scrape(100))
            verdict = next(v for v in summary["slo"] if v["name"] == "full_response_waste")
            assert (verdict["samples"], verdict["status"]) == (100, status), (kind, bad_jobs)
            json.dumps(json_safe(summary), allow_nan=False)  # no Infinity in summary.json


def test_a_default_length_run_judges_what_its_samples_allow() -> None:
    # ~60 jobs per intent: P50 and P95 are judged, P99 (needs 100) is listed as not judged.
    summary = judge(run(fast("waste", 60) + fast("general", 60)), scrape(60))
    verdict = next(v for v in summary["slo"] if v["name"] == "full_response_general")
    assert verdict["status"] == "pass" and set(verdict["passed"]) == {"p50", "p95"}
    assert "p99 needs 100" in verdict["note"] and summary["passed"]


def test_a_percentile_already_missed_fails_before_it_has_its_samples() -> None:
    # 4 of 10 general answers take a minute: whatever came next, P95 and P99 would miss.
    slow = [JobResult("general", 0.0, "done", e2e_s=60.0) for _ in range(4)]
    summary = judge(run(fast("waste", 100) + fast("general", 6) + slow), scrape(100))
    verdict = next(v for v in summary["slo"] if v["name"] == "full_response_general")
    assert verdict["status"] == "fail" and verdict["passed"]["p99"] is False
    # 2 of 99 waste jobs never answered: more than a P99 allows of its 100 samples.
    unanswered = [JobResult("waste", 0.0, "no_terminal") for _ in range(2)]
    summary = judge(run(fast("waste", 97) + unanswered + fast("general", 100)), scrape(100))
    assert statuses(summary)["full_response_waste"] == "fail" and not summary["passed"]
    assert "full_response_waste p99 no answer" in bottleneck([summary | {"users": 1}])


def test_find_max_names_a_level_stopped_by_too_little_data() -> None:
    summary = judge(run(fast("waste", 1) + fast("general", 1)), scrape(1))
    assert "insufficient" in bottleneck([summary | {"users": 1}])


def test_per_intent_figures_count_the_jobs_the_verdict_counts() -> None:
    # 95 quick answers, 3 errors after 7 s and 2 jobs never answered: the figures shown next to
    # the verdict must be those it was judged on, not the completed jobs' alone.
    errors = [JobResult("waste", 0.0, "error", e2e_s=7.0) for _ in range(3)]
    unanswered = [JobResult("waste", 0.0, "no_terminal") for _ in range(2)]
    summary = judge(
        run(fast("waste", 95) + errors + unanswered + fast("general", 100)), scrape(100)
    )
    waste = summary["per_intent"]["waste"]
    assert (waste["jobs"], waste["completed"], waste["unanswered"]) == (100, 95, 2)
    assert waste["e2e_s"]["p95"] == 0.5 and waste["e2e_s"]["p99"] == math.inf
    assert sorted(waste["e2e_s"].values())[:3] == [0.5, 0.5, math.inf]
    verdict = next(v for v in summary["slo"] if v["name"] == "full_response_waste")
    assert verdict["observed"] == {p: waste["e2e_s"][p] for p in ("p50", "p95", "p99")}
    three_errors = judge(run(fast("waste", 97) + errors + fast("general", 100)), scrape(100))
    assert three_errors["per_intent"]["waste"]["e2e_s"]["p99"] == 7.0  # an error with its time


def test_a_percentile_on_a_job_with_no_answer_is_shown_as_such() -> None:
    unanswered = [JobResult("waste", 0.0, "no_terminal") for _ in range(2)]
    summary = judge(run(fast("waste", 98) + unanswered + fast("general", 100)), scrape(100))
    table = verdict_table(summary)
    waste_row = next(line for line in table.splitlines() if line.startswith("  waste"))
    assert "n=100" in waste_row and "e2e p50/p95/p99 500 ms/500 ms/no answer" in waste_row
    page = render(summary)
    assert "∞" in page and "no answer" in page
    assert not NOT_A_NUMBER.search(page)
    unanswered *= 3  # 6 in 100: the P95 the find-max table and chart show lands on one
    summary = judge(run(fast("waste", 94) + unanswered + fast("general", 100)), scrape(100))
    level = levels_html([summary | {"users": 5}], "verdict")
    assert "waste no answer" in level and "∞" in level and not NOT_A_NUMBER.search(level)
