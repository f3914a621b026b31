"""Server-side figures for ``eco2 loadtest``: scrape ``/metrics`` before and after a run.

Histogram percentiles are computed from bucket *deltas* (after − before) exactly as PromQL's
``histogram_quantile`` does (linear interpolation inside a bucket), and the fraction of
observations at or under an SLO threshold is exact because every threshold is a bucket bound.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

Labels = frozenset[tuple[str, str]]


@dataclass
class Scrape:
    """Every sample of the scraped targets: ``{name: {labels: value}}`` (summed over targets)."""

    samples: dict[str, dict[Labels, float]] = field(default_factory=dict)
    per_target: dict[str, dict[str, dict[Labels, float]]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def value(self, name: str, target: str | None = None, **selector: str) -> float:
        """Sum of the samples of ``name`` whose labels match ``selector``."""
        source = self.samples if target is None else self.per_target.get(target, {})
        return sum(v for labels, v in source.get(name, {}).items() if _matches(labels, selector))


def _matches(labels: Labels, selector: dict[str, str]) -> bool:
    have = dict(labels)
    return all(have.get(k) == v for k, v in selector.items())


def parse(text: str) -> dict[str, dict[Labels, float]]:
    """Parse the Prometheus text format into ``{sample name: {labels: value}}``."""
    out: dict[str, dict[Labels, float]] = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[sample.name][frozenset(sample.labels.items())] = float(sample.value)
    return dict(out)


async def scrape(client: httpx.AsyncClient, targets: Iterable[str]) -> Scrape:
    """Scrape every target URL; unreachable targets are recorded in ``errors``, not raised."""
    result = Scrape()
    merged: dict[str, dict[Labels, float]] = defaultdict(lambda: defaultdict(float))
    for url in targets:
        try:
            response = await client.get(url, timeout=10)
            response.raise_for_status()
            parsed = parse(response.text)
        except (httpx.HTTPError, ValueError) as exc:
            result.errors.append(f"{url}: {exc}")
            continue
        result.per_target[url] = parsed
        for name, series in parsed.items():
            for labels, value in series.items():
                merged[name][labels] += value
    result.samples = {name: dict(series) for name, series in merged.items()}
    return result


def delta(before: Scrape, after: Scrape, name: str, target: str | None = None, **sel: str) -> float:
    """Increase of a counter-like sample sum between two scrapes."""
    return after.value(name, target, **sel) - before.value(name, target, **sel)


def bucket_deltas(
    before: Scrape, after: Scrape, metric: str, selector: dict[str, str]
) -> list[tuple[float, float]]:
    """Cumulative ``(le, count)`` of the observations made between the scrapes, sorted by le."""
    bounds: dict[float, float] = defaultdict(float)
    name = f"{metric}_bucket"
    for scrape, sign in ((after, 1.0), (before, -1.0)):
        for labels, value in scrape.samples.get(name, {}).items():
            have = dict(labels)
            if "le" in have and _matches(labels, selector):
                bounds[float(have["le"])] += sign * value
    return sorted(bounds.items())


def bucket_quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """``histogram_quantile(q, ...)`` over cumulative buckets; ``None`` without observations."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound  # as Prometheus: the highest finite bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return buckets[-1][0]


def fraction_within(buckets: list[tuple[float, float]], threshold: float) -> float | None:
    """Share of observations ``<= threshold`` (exact when ``threshold`` is a bucket bound)."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]
    within = 0.0
    for bound, count in buckets:
        if bound <= threshold + 1e-12:
            within = count
    return within / total


def mean_by_label(
    before: Scrape, after: Scrape, metric: str, label: str, **selector: str
) -> dict[str, tuple[float, float]]:
    """``{label value: (count, mean seconds)}`` of a histogram over the interval."""
    counts: dict[str, float] = defaultdict(float)
    sums: dict[str, float] = defaultdict(float)
    for suffix, into in (("_count", counts), ("_sum", sums)):
        for scrape, sign in ((after, 1.0), (before, -1.0)):
            for labels, value in scrape.samples.get(metric + suffix, {}).items():
                have = dict(labels)
                if _matches(labels, selector):
                    into[have.get(label, "")] += sign * value
    return {key: (counts[key], sums[key] / counts[key]) for key in counts if counts[key] > 0}


def cpu_by_target(before: Scrape, after: Scrape, wall_s: float) -> dict[str, float]:
    """CPU cores used by each scraped process over ``wall_s`` (``process_cpu_seconds_total``)."""
    out: dict[str, float] = {}
    for target in after.per_target:
        if target not in before.per_target or wall_s <= 0:
            continue
        used = delta(before, after, "process_cpu_seconds_total", target)
        out[target] = used / wall_s
    return out
