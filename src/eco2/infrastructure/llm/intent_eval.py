"""Measures an intent classifier on labelled messages: primary accuracy, multi-intent recall."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from eco2.application.ports.llm import IntentPrediction
from eco2.infrastructure.llm.intent_data import LabelledMessage


@dataclass(frozen=True, slots=True)
class ClassifierReport:
    """Accuracy and latency of one evaluation run.

    Attributes:
        total: Messages evaluated.
        primary_accuracy: Share whose predicted primary intent is the labelled primary.
        multi_total: Messages labelled with two or more intents.
        multi_recall: Share of labelled intents found, over multi-intent messages.
        latencies_ms: Per-message classification time.
        errors: ``(text, labelled, predicted)`` for each wrong primary.
    """

    total: int
    primary_accuracy: float
    multi_total: int
    multi_recall: float
    latencies_ms: list[float] = field(repr=False)
    errors: list[tuple[str, list[str], list[str]]] = field(repr=False)


def percentile(values: Sequence[float], q: float) -> float:
    """Return the nearest-rank ``q``-th percentile (0-100) of ``values`` (0 when empty)."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[index]


def evaluate(
    predict: Callable[[str], IntentPrediction], examples: Sequence[LabelledMessage]
) -> ClassifierReport:
    """Run ``predict`` over ``examples`` and score it."""
    correct = found = expected = multi = 0
    latencies: list[float] = []
    errors: list[tuple[str, list[str], list[str]]] = []
    for example in examples:
        started = time.perf_counter()
        prediction = predict(example.text)
        latencies.append((time.perf_counter() - started) * 1000)
        labelled = [i.value for i in example.intents]
        predicted = [i.value for i in prediction.intents]
        if predicted and predicted[0] == labelled[0]:
            correct += 1
        else:
            errors.append((example.text, labelled, predicted))
        if len(labelled) > 1:
            multi += 1
            expected += len(labelled)
            found += len(set(labelled) & set(predicted))
    return ClassifierReport(
        total=len(examples),
        primary_accuracy=correct / len(examples) if examples else 0.0,
        multi_total=multi,
        multi_recall=found / expected if expected else 0.0,
        latencies_ms=latencies,
        errors=errors,
    )
