"""Observing many values into a Prometheus histogram at once (one per token, per flush).

``Histogram.observe`` takes two locks per value; the token histograms observe one value per token
(DESIGN.md §5), which made them the largest per-token cost of the metrics adapter. Here each value
still lands in its own bucket, but a flush's values are binned first and each touched bucket and
the sum are incremented once. The result is identical to calling ``observe`` for every value
(``tests/unit/test_prometheus_batch.py`` checks it against the installed prometheus_client).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

from prometheus_client import Histogram


def observe_each(histogram: Histogram, values: Iterable[float]) -> None:
    """Observe every value of ``values`` into ``histogram`` (a labelled child or a plain one).

    Args:
        histogram: The histogram (with its labels applied, if it has any).
        values: The observations; each is counted in the first bucket whose bound is ≥ it.
    """
    # prometheus_client keeps non-cumulative bucket counts and cumulates them when collected;
    # ``_upper_bounds`` ends with +Inf, so every value finds a bucket. Those fields are private:
    # a release without them gets the public call per value (slower, never wrong).
    bounds: list[float] | None = getattr(histogram, "_upper_bounds", None)
    if bounds is None or not hasattr(histogram, "_sum") or not hasattr(histogram, "_buckets"):
        for value in values:
            histogram.observe(value)
        return
    counts = [0] * len(bounds)
    total = 0.0
    for value in values:
        counts[bisect_left(bounds, value)] += 1
        total += value
    if not any(counts):
        return
    histogram._raise_if_not_observable()  # type: ignore[no-untyped-call]
    histogram._sum.inc(total)
    buckets = histogram._buckets
    for index, count in enumerate(counts):
        if count:
            buckets[index].inc(count)
