"""The offline intent classifier: deterministic, Korean and English, multi-intent, no network.

A one-vs-rest logistic regression over character n-grams, plus lexicon features that mark the
names the project's own data knows (knowledge-base items, bulk items, characters, recyclables),
so an item never seen in training still reads as a waste question. Multi-intent messages are
also split into clauses at connectors ("랑", "하고", "and", …); each clause's confident intent
is added in the order the clauses are asked, so the primary intent is the first one asked.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import MultiLabelBinarizer

from eco2.application.ports.llm import IntentPrediction
from eco2.domain.intents import Intent
from eco2.infrastructure.alias_index import AliasIndex
from eco2.infrastructure.data import load_yaml
from eco2.infrastructure.llm.intent_data import TRAIN_FILE, LabelledMessage, load_examples

_CLAUSE_BREAK = re.compile(
    r"\s*(?:[,;/+]|[.?!]+\s"
    r"|(?<=[가-힣])(?:이랑|랑|하고|주고|그리고|하구)\s"
    r"|\s(?:그리고|또|또한|그리고 나서|and|also|plus|then)\s)\s*",
    re.IGNORECASE,
)
BULK_CATEGORIES = frozenset({"bulk_item", "large_electronics"})


def default_lexicon() -> dict[str, list[str]]:
    """Return marker → phrases built from the packaged knowledge base and local tables."""
    kb = load_yaml("waste_kb.yaml")
    lexicon: dict[str, list[str]] = {
        "waste_item": [],
        "bulk_item": [],
        "character": [],
        "price": [],
    }
    for item in kb["items"]:
        marker = "bulk_item" if item["category"] in BULK_CATEGORIES else "waste_item"
        lexicon[marker].extend([item["name"], *item.get("aliases", ())])
    for item in load_yaml("bulk_waste_fees.yaml")["items"]:
        lexicon["bulk_item"].extend([item["name"], *item.get("aliases", ())])
    for character in load_yaml("characters.yaml")["characters"]:
        lexicon["character"].extend([character["name"], character["english_name"]])
    for item in load_yaml("recyclable_prices.yaml")["items"]:
        lexicon["price"].extend([item["name"], *item.get("aliases", ())])
    return lexicon


def _normal(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower().strip()


class OfflineIntentClassifier:
    """``IntentClassifierPort`` trained at construction from labelled examples.

    Args:
        examples: Training messages (default: the packaged training split).
        lexicon: Marker name → phrases (default: :func:`default_lexicon`).
        threshold: Probability above which a secondary intent is kept.
        clause_threshold: Probability above which a clause's best intent is kept.
    """

    def __init__(
        self,
        examples: Sequence[LabelledMessage] | None = None,
        lexicon: Mapping[str, Iterable[str]] | None = None,
        threshold: float = 0.5,
        clause_threshold: float = 0.6,
    ) -> None:
        examples = examples if examples is not None else load_examples(TRAIN_FILE)
        lexicon = lexicon if lexicon is not None else default_lexicon()
        self._threshold = threshold
        self._clause_threshold = clause_threshold
        self._markers = AliasIndex((marker, phrases) for marker, phrases in lexicon.items())
        self._chars = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True, min_df=1
        )
        self._marks = TfidfVectorizer(analyzer=str.split, lowercase=False)
        self._labels = MultiLabelBinarizer(classes=[i.value for i in Intent])
        texts = [_normal(e.text) for e in examples]
        y = self._labels.fit_transform([[i.value for i in e.intents] for e in examples])
        features = hstack(
            [self._chars.fit_transform(texts), self._marks.fit_transform(self._mark(texts))]
        ).tocsr()
        model = OneVsRestClassifier(
            LogisticRegression(C=10.0, solver="liblinear", class_weight="balanced")
        )
        model.fit(features, y)
        self._classes: list[str] = list(self._labels.classes_)
        # One weight matrix instead of ten estimators: the same sigmoid, a fraction of the cost.
        self._weights = np.hstack([est.coef_.T for est in model.estimators_])
        self._bias = np.array([est.intercept_[0] for est in model.estimators_])

    def _mark(self, texts: Iterable[str]) -> list[str]:
        marked = []
        for text in texts:
            found = [f"lex_{marker}" for marker, _ in self._markers.find(text)]
            marked.append(" ".join(found) or "lex_none")
        return marked

    def probabilities(self, texts: Sequence[str]) -> Any:
        """Return an array of per-intent probabilities, one row per text (``Intent`` order)."""
        normal = [_normal(t) for t in texts]
        features = hstack(
            [self._chars.transform(normal), self._marks.transform(self._mark(normal))]
        ).tocsr()
        logits = np.asarray(features @ self._weights) + self._bias
        return 1.0 / (1.0 + np.exp(-logits))

    @staticmethod
    def clauses(text: str) -> list[str]:
        """Split ``text`` at connectors into the requests it strings together."""
        return [part for part in _CLAUSE_BREAK.split(text) if part and part.strip()]

    def predict(self, text: str) -> IntentPrediction:
        """Classify ``text``: intents in the order they are asked, primary first."""
        parts = self.clauses(text)
        rows = self.probabilities([text, *parts] if len(parts) > 1 else [text])
        whole = rows[0]
        first_seen: dict[str, float] = {}
        for position, row in enumerate(rows[1:]):
            best = int(np.argmax(row))
            if row[best] >= self._clause_threshold:
                first_seen.setdefault(self._classes[best], float(position))
        best = int(np.argmax(whole))
        ranked = sorted(range(len(self._classes)), key=lambda i: -whole[i])
        for rank, i in enumerate(ranked):
            if i == best or whole[i] >= self._threshold:
                # Intents no clause claimed come after the claimed ones, by confidence.
                first_seen.setdefault(self._classes[i], len(rows) + rank)
        order = sorted(first_seen, key=lambda label: first_seen[label])
        scores = {label: round(float(whole[i]), 4) for i, label in enumerate(self._classes)}
        return IntentPrediction(tuple(Intent(label) for label in order), scores)

    async def classify(self, text: str) -> IntentPrediction:
        """Async form of :meth:`predict` (pure CPU, about a millisecond)."""
        return self.predict(text)
