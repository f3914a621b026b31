"""``observe_each`` bins a flush's values exactly as one ``observe`` per value would."""

from __future__ import annotations

import random

import pytest
from prometheus_client import CollectorRegistry, Histogram

from eco2.infrastructure.prometheus.batch import observe_each
from eco2.infrastructure.prometheus.metrics import PrometheusMetrics, PrometheusStreamTracker

BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)


def samples(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
    return {
        (s.name, s.labels.get("le", "")): s.value
        for family in registry.collect()
        for s in family.samples
        if not s.name.endswith("_created")
    }


def test_the_same_samples_as_one_observe_per_value() -> None:
    rng = random.Random(7)
    values = [rng.choice([0.0, *BUCKETS, 0.003, 0.3, 9.0]) for _ in range(200)]
    one, batched = CollectorRegistry(), CollectorRegistry()
    single = Histogram("h", "h", ["node"], buckets=BUCKETS, registry=one).labels("answer")
    many = Histogram("h", "h", ["node"], buckets=BUCKETS, registry=batched).labels("answer")
    for value in values:
        single.observe(value)
    observe_each(many, values[:50])
    observe_each(many, [])
    observe_each(many, values[50:])
    expected, got = samples(one), samples(batched)
    assert got.pop(("h_sum", "")) == pytest.approx(expected.pop(("h_sum", "")))
    assert got == expected and expected[("h_count", "")] == 200


def test_a_stream_observes_one_latency_per_token_and_one_interval_per_gap() -> None:
    metrics = PrometheusMetrics()
    stream = metrics.stream("offline")
    stream.tokens("answer", [1.0, 1.002], 1.003)
    stream.tokens("answer", [], 1.004)
    stream.tokens("answer", [1.05], 1.051)
    stream.finish("success")
    value = metrics.registry.get_sample_value
    assert value("chat_stream_token_latency_seconds_count", {"node": "answer"}) == 3
    assert value("chat_stream_token_interval_seconds_count", {"provider": "offline"}) == 2
    # gaps 0.002 and 0.048: one in the first bucket, one in the 0.05 bucket
    interval = {"provider": "offline", "le": "0.01"}
    assert value("chat_stream_token_interval_seconds_bucket", interval) == 1
    interval["le"] = "0.05"
    assert value("chat_stream_token_interval_seconds_bucket", interval) == 2
    assert value("chat_stream_tokens_total", {"node": "answer", "status": "success"}) == 3


def test_a_long_stream_is_observed_before_it_finishes() -> None:
    metrics = PrometheusMetrics()
    stream = metrics.stream("offline")
    every = PrometheusStreamTracker.OBSERVE_EVERY
    for index in range(every):
        stream.tokens("answer", [index * 0.01], index * 0.01 + 0.002)
    value = metrics.registry.get_sample_value
    assert value("chat_stream_token_latency_seconds_count", {"node": "answer"}) == every
    assert value("chat_stream_token_interval_seconds_count", {"provider": "offline"}) == every - 1
    assert value("chat_stream_active") == 1
    stream.finish("success")
    stream.finish("error")  # later calls do nothing
    assert value("chat_stream_active") == 0
    assert value("chat_stream_tokens_total", {"node": "answer", "status": "success"}) == every


def test_a_histogram_without_the_private_fields_gets_one_observe_per_value() -> None:
    class Public:  # what a prometheus_client release that renamed its internals would offer
        def __init__(self) -> None:
            self.observed: list[float] = []

        def observe(self, value: float) -> None:
            self.observed.append(value)

    histogram = Public()
    observe_each(histogram, iter([0.2, 0.004]))  # type: ignore[arg-type]
    assert histogram.observed == [0.2, 0.004]
