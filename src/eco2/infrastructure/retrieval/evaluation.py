"""Measures retrieval on the packaged query set: top-1 and top-3 accuracy."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from eco2.domain.knowledge import RetrievalHit
from eco2.infrastructure.data import data_path

EVAL_FILE = "retrieval_eval.jsonl"


@dataclass(frozen=True, slots=True)
class RetrievalQuery:
    """A question and the knowledge-base item ids that answer it."""

    query: str
    expected: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RetrievalReport:
    """Top-k accuracy over a query set, with the misses at top-3."""

    total: int
    top1: float
    top3: float
    misses: list[tuple[str, list[str], list[str]]] = field(repr=False)


def load_queries(path: Path | str = EVAL_FILE) -> list[RetrievalQuery]:
    """Load ``{"query", "expected": [ids]}`` lines (a packaged name or a path)."""
    resolved = Path(path) if Path(path).exists() else data_path(str(path))
    queries = []
    with resolved.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                raw = json.loads(line)
                expected = raw["expected"]
                expected = [expected] if isinstance(expected, str) else expected
                queries.append(RetrievalQuery(raw["query"], tuple(expected)))
    return queries


def evaluate(
    search: Callable[[str, int], list[RetrievalHit]], queries: Sequence[RetrievalQuery]
) -> RetrievalReport:
    """A query counts at top-k when any expected id is among the first k hits."""
    top1 = top3 = 0
    misses = []
    for q in queries:
        ids = [hit.item.id for hit in search(q.query, 3)]
        if ids[:1] and ids[0] in q.expected:
            top1 += 1
        if set(ids[:3]) & set(q.expected):
            top3 += 1
        else:
            misses.append((q.query, list(q.expected), ids))
    n = len(queries) or 1
    return RetrievalReport(len(queries), top1 / n, top3 / n, misses)
