"""The knowledge-base retriever: exact name/alias matches first, then BM25 over Kiwi morphemes."""

from __future__ import annotations

import logging

import bm25s
import numpy as np

from eco2.domain.knowledge import RetrievalHit, WasteItem
from eco2.infrastructure.alias_index import AliasIndex
from eco2.infrastructure.retrieval.knowledge_base import KnowledgeBase
from eco2.infrastructure.retrieval.korean import STOPWORDS, KoreanAnalyzer

ALIAS_SCORE = 1000.0  # any alias match outranks every BM25 score


class KnowledgeBaseRetriever:
    """``WasteRetrievalPort`` over the packaged knowledge base.

    Args:
        kb: The knowledge base.
        analyzer: Kiwi analyzer (shared; building one is slow).
    """

    def __init__(self, kb: KnowledgeBase, analyzer: KoreanAnalyzer) -> None:
        self._kb = kb
        self._analyzer = analyzer
        self._by_id = {item.id: item for item in kb.items}
        self._names = AliasIndex((i, (item.name, *item.aliases)) for i, item in enumerate(kb.items))
        corpus = [analyzer.tokens(self._document(item)) for item in kb.items]
        self._doc_terms = [set(tokens) for tokens in corpus]
        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it forces DEBUG on itself
        self._bm25 = bm25s.BM25()
        self._bm25.index(corpus, show_progress=False)

    @staticmethod
    def _document(item: WasteItem) -> str:
        names = " ".join((item.name, *item.aliases))
        # Names count twice: a question names the item far more often than it quotes a step.
        return " ".join((names, names, item.category_name, *item.steps, *item.mistakes))

    def search_sync(self, query: str, k: int = 3) -> list[RetrievalHit]:
        """Return hits for ``query``, best first.

        Every item named in the query comes first, in query order (a question may name more
        than ``k``); BM25 hits fill the rest up to ``k``.
        """
        hits: list[RetrievalHit] = []
        seen: set[int] = set()
        for index, alias in self._names.find(query):
            seen.add(index)
            hits.append(RetrievalHit(self._kb.items[index], ALIAS_SCORE, alias, 1.0))
        terms = [t for t in self._analyzer.tokens(query) if t not in STOPWORDS]
        if terms and len(hits) < k:
            scores = self._bm25.get_scores(terms)
            for index in np.argsort(-scores, kind="stable")[: k + len(seen)]:
                i = int(index)
                if scores[i] <= 0 or len(hits) >= k:
                    break
                if i in seen:
                    continue
                coverage = len(set(terms) & self._doc_terms[i]) / len(set(terms))
                hits.append(RetrievalHit(self._kb.items[i], float(scores[i]), None, coverage))
        return hits

    async def search(self, query: str, k: int = 3) -> list[RetrievalHit]:
        """Async form of :meth:`search_sync` (pure CPU, about a millisecond)."""
        return self.search_sync(query, k)

    def general_rules(self) -> list[str]:
        """Return the rules that apply to every item."""
        return list(self._kb.general_rules)

    def item(self, item_id: str) -> WasteItem | None:
        """Return the item with ``item_id``."""
        return self._by_id.get(item_id)
