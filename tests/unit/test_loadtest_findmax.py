"""--find-max names the bottleneck: the SLO missed, host CPU taken elsewhere, slot exhaustion."""

from __future__ import annotations

from typing import Any

from eco2.entrypoints.cli.loadtest_findmax import bottleneck


def level(
    users: int, queue_wait_s: float, passed: bool = True, busy: float = 0.5
) -> dict[str, Any]:
    emission = {"p50": 0.001, "p95": 0.02, "p99": 0.073 if not passed else 0.02}
    return {
        "users": users,
        "passed": passed,
        "error_rate_ok": True,
        "jobs": {"error_rate": 0.0},
        "slo": [
            {
                "name": "token_emission",
                "thresholds": {"p50": 0.005, "p95": 0.025, "p99": 0.05},
                "observed": emission,
                "passed": {
                    p: v <= {"p50": 0.005, "p95": 0.025, "p99": 0.05}[p]
                    for p, v in emission.items()
                },
            }
        ],
        "server": {
            "node_mean_s": {"answer": 1.1},
            "queue_wait_mean_s": queue_wait_s,
            "cpu_cores": {"worker": 0.2, "api": 0.1},
            "host": {"cpu_busy": busy, "cores": 2, "loadavg": [4.2, 3.0, 2.0]},
        },
    }


def test_names_the_missed_slo_and_cpu_taken_by_other_processes() -> None:
    text = bottleneck([level(10, 0.005), level(20, 0.021, passed=False, busy=0.8)])
    assert "at 20 users missed token_emission p99 73 ms > 50 ms" in text
    assert "measured processes 0.30 cores, processes not scraped 1.30 cores" in text
    # 21 ms of queue wait is a job picked up at once, not a worker out of slots.
    assert "worker concurrency" not in text


def test_blames_worker_slots_only_when_jobs_really_wait() -> None:
    text = bottleneck([level(10, 0.005), level(80, 2.5, passed=False, busy=0.2)])
    assert "worker concurrency (ECO2_WORKER_CONCURRENCY × workers) saturates first" in text
    assert "not scraped" not in text
