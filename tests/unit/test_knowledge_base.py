"""The knowledge base's shape and the retriever's accuracy on the packaged query set."""

from __future__ import annotations

from collections import Counter

from eco2.infrastructure.retrieval.evaluation import evaluate, load_queries
from eco2.infrastructure.retrieval.knowledge_base import load_knowledge_base
from eco2.infrastructure.retrieval.retriever import KnowledgeBaseRetriever
from eco2.pipeline.nodes.waste_rag import RetrievalQuality, grade


def test_knowledge_base_size_and_fields() -> None:
    kb = load_knowledge_base()
    assert len(kb.items) >= 150
    per_category = Counter(item.category for item in kb.items)
    assert len(per_category) >= 15
    for item in kb.items:
        assert item.aliases and item.steps and item.mistakes, item.id
    assert kb.general_rules


def test_retrieval_accuracy(retriever: KnowledgeBaseRetriever) -> None:
    queries = load_queries()
    assert len(queries) >= 50
    report = evaluate(retriever.search_sync, queries)
    # Measured 80.0 % / 87.8 % (README); the floor catches regressions, not noise.
    assert report.top1 >= 0.77, report.misses
    assert report.top3 >= 0.85, report.misses


def test_colloquial_names_and_morphology(retriever: KnowledgeBaseRetriever) -> None:
    assert retriever.search_sync("생수병 버리는 법")[0].item.category == "pet"
    two = retriever.search_sync("우유팩이랑 참치캔은?")
    assert [h.item.category for h in two[:2]] == ["paper_pack", "metal"]
    assert all(h.matched_alias for h in two[:2])


def test_grading(retriever: KnowledgeBaseRetriever) -> None:
    assert grade(retriever.search_sync("페트병 어떻게 버려?")) is RetrievalQuality.GOOD
    assert (
        grade(retriever.search_sync("우주선 폐기물은 어떻게 분리배출해?")) is RetrievalQuality.POOR
    )
    assert grade([]) is RetrievalQuality.POOR
