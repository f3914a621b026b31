"""Korean text handling for retrieval: Kiwi morpheme analysis and space-free normalisation."""

from __future__ import annotations

import threading
import unicodedata
from typing import Any

# Content-bearing Kiwi tags: nouns, numerals, roots, verb/adjective stems, foreign words, hanja.
_CONTENT_TAGS = ("NNG", "NNP", "NR", "XR", "SL", "SH", "SN", "VV", "VA")

# Words every disposal question shares; they say nothing about which item is meant.
STOPWORDS = frozenset(
    [
        "버리",
        "버리다",
        "방법",
        "어떻게",
        "어떡하",
        "어디",
        "분리",
        "배출",
        "분리배출",
        "분리수거",
        "수거",
        "재활용",
        "알려주",
        "알리",
        "주",
        "하",
        "되",
        "있",
        "없",
        "이",
        "그",
        "저",
        "것",
        "거",
        "뭐",
        "무엇",
        "좀",
        "다",
        "쓰",
        "때",
        "경우",
        "나",
        "내",
        "우리",
        "집",
        "해",
        "돼",
        "궁금",
        "질문",
        "가능",
        "how",
        "do",
        "i",
        "to",
        "a",
        "an",
        "the",
        "of",
        "in",
        "it",
        "is",
        "can",
        "should",
        "dispose",
        "throw",
        "away",
        "recycle",
        "what",
        "where",
    ]
)


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ses", "xes", "ches", "shes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


class KoreanAnalyzer:
    """Thread-safe wrapper around one Kiwi instance (loading it takes a few seconds).

    Item names are not registered as user words: documents and questions go through the same
    analysis, so they split alike, and measured accuracy was no better with them.
    """

    def __init__(self) -> None:
        from kiwipiepy import Kiwi  # heavy: imported when an analyzer is built, not at import

        self._kiwi: Any = Kiwi()
        self._lock = threading.Lock()

    def tokens(self, text: str) -> list[str]:
        """Return the content morphemes of ``text``, lower-cased, stopwords kept.

        English words are reduced to a crude singular ("batteries" → "battery") so plural
        questions meet singular aliases.
        """
        with self._lock:
            analysed = self._kiwi.tokenize(unicodedata.normalize("NFKC", text))
        return [
            _singular(t.form.lower()) if t.tag == "SL" else t.form.lower()
            for t in analysed
            if t.tag.split("-")[0] in _CONTENT_TAGS
        ]

    def content_tokens(self, text: str) -> list[str]:
        """Return the content morphemes of ``text`` without generic disposal words."""
        return [t for t in self.tokens(text) if t not in STOPWORDS]
