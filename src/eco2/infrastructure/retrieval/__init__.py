"""Retrieval over the waste-disposal knowledge base (Kiwi morphemes + BM25 + alias matching)."""
