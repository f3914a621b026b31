"""The offline intent classifier on the held-out split, and its contract."""

from __future__ import annotations

import pytest

from eco2.domain.intents import Intent
from eco2.infrastructure.llm.intent_data import EVAL_FILE, TRAIN_FILE, load_examples
from eco2.infrastructure.llm.intent_eval import evaluate, percentile
from eco2.infrastructure.llm.offline_classifier import OfflineIntentClassifier


def test_held_out_accuracy(classifier: OfflineIntentClassifier) -> None:
    report = evaluate(classifier.predict, load_examples(EVAL_FILE))
    assert report.total >= 300
    assert report.primary_accuracy >= 0.90, report.errors
    assert report.multi_total >= 50
    assert report.multi_recall >= 0.80


def test_splits_are_disjoint_and_cover_every_intent() -> None:
    train = load_examples(TRAIN_FILE)
    held_out = load_examples(EVAL_FILE)
    assert not {e.text for e in train} & {e.text for e in held_out}
    for split in (train, held_out):
        assert {e.intents[0] for e in split} == set(Intent)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("페트병 어떻게 버려?", [Intent.WASTE]),
        ("소파 버리는 방법이랑 내일 날씨", [Intent.BULK_WASTE, Intent.WEATHER]),
        ("이코 소개해줘", [Intent.CHARACTER]),
        ("안녕하세요", [Intent.GENERAL]),
        ("how do I recycle a pizza box", [Intent.WASTE]),
        ("where is the nearest battery collection box?", [Intent.COLLECTION_POINT]),
    ],
)
def test_examples_from_the_design(
    classifier: OfflineIntentClassifier, text: str, expected: list[Intent]
) -> None:
    assert list(classifier.predict(text).intents[: len(expected)]) == expected


def test_deterministic_and_never_empty(classifier: OfflineIntentClassifier) -> None:
    other = OfflineIntentClassifier()
    for text in ("ㅁㄴㅇㄹ", "?", "냉장고 버리고 싶은데 비 와?", "zzz"):
        first = classifier.predict(text)
        assert first.intents
        assert first == other.predict(text)


def test_per_message_cost_is_measured(classifier: OfflineIntentClassifier) -> None:
    # The 5 ms p99 target is checked by `eco2 bench classify`; here only that timings exist.
    report = evaluate(classifier.predict, load_examples(EVAL_FILE)[:20])
    assert len(report.latencies_ms) == 20 and percentile(report.latencies_ms, 99) > 0
