"""Finds the things a text names: longest non-overlapping name/alias matches, space-insensitive."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T", bound=Hashable)

_NON_WORD = re.compile(r"[\s\W_]+", re.UNICODE)
_LATIN = re.compile(r"[a-z]")
_LATIN_WORDS = re.compile(r"[a-z0-9]+")


def normalise(text: str) -> str:
    """Lower-case, NFKC-normalise and drop spaces/punctuation ("페트 병!" → "페트병")."""
    return _NON_WORD.sub("", unicodedata.normalize("NFKC", text).lower())


@dataclass(frozen=True, slots=True)
class _Alias(Generic[T]):
    key: str
    text: str
    target: T
    whole_word: bool


class AliasIndex(Generic[T]):
    """An index from names/aliases to targets.

    Korean aliases match anywhere in the space-free text (two characters at least); a one-word
    Latin alias must be a whole word ("can" is not found in "cancel"). The first target to claim
    an alias keeps it.

    Args:
        entries: ``(target, aliases)`` pairs.
        min_latin: Shortest Latin alias kept.
    """

    def __init__(self, entries: Iterable[tuple[T, Iterable[str]]], min_latin: int = 3) -> None:
        table: dict[str, _Alias[T]] = {}
        for target, aliases in entries:
            for text in aliases:
                key = normalise(text)
                latin = bool(_LATIN.search(key))
                if len(key) < (min_latin if latin else 2) or key in table:
                    continue
                table[key] = _Alias(key, text, target, latin and " " not in text.strip())
        self._table = table
        self._lengths = sorted({len(key) for key in table}, reverse=True)

    def find(self, text: str) -> list[tuple[T, str]]:
        """Return ``(target, alias)`` for each target named in ``text``, in text order."""
        flat = normalise(text)
        words: set[str] | None = None
        candidates: list[tuple[int, int, _Alias[T]]] = []
        for size in self._lengths:
            for start in range(len(flat) - size + 1):
                alias = self._table.get(flat[start : start + size])
                if alias is None:
                    continue
                if alias.whole_word:
                    if words is None:
                        words = set(
                            _LATIN_WORDS.findall(unicodedata.normalize("NFKC", text).lower())
                        )
                    if alias.key not in words:
                        continue
                candidates.append((start, size, alias))
        # Longest first; a shorter alias inside a longer match does not count.
        taken = [False] * len(flat)
        found: list[tuple[int, _Alias[T]]] = []
        for start, size, alias in candidates:
            span = range(start, start + size)
            if not any(taken[i] for i in span):
                for i in span:
                    taken[i] = True
                found.append((start, alias))
        result: list[tuple[T, str]] = []
        seen: set[T] = set()
        for _, alias in sorted(found, key=lambda pair: pair[0]):
            if alias.target not in seen:
                seen.add(alias.target)
                result.append((alias.target, alias.text))
        return result
