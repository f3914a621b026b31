"""Korean text handling for retrieval: Kiwi morpheme analysis and space-free normalisation."""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable
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


class KoreanAnalyzer:
    """Thread-safe wrapper around one Kiwi instance (loading it takes a few seconds).

    Args:
        user_words: Item names and aliases registered as proper nouns so Kiwi keeps them whole.
    """

    def __init__(self, user_words: Iterable[str] = ()) -> None:
        from kiwipiepy import Kiwi  # heavy: imported when an analyzer is built, not at import

        self._kiwi: Any = Kiwi()
        self._lock = threading.Lock()
        for word in {w.strip() for w in user_words}:
            if word and " " not in word and re.search(r"[가-힣]", word):
                self._kiwi.add_user_word(word, "NNP")

    def tokens(self, text: str) -> list[str]:
        """Return the content morphemes of ``text``, lower-cased, stopwords kept."""
        with self._lock:
            analysed = self._kiwi.tokenize(unicodedata.normalize("NFKC", text))
        return [t.form.lower() for t in analysed if t.tag.split("-")[0] in _CONTENT_TAGS]

    def content_tokens(self, text: str) -> list[str]:
        """Return the content morphemes of ``text`` without generic disposal words."""
        return [t for t in self.tokens(text) if t not in STOPWORDS]
