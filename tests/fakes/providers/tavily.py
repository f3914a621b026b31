"""Payloads shaped like the Tavily Search API's documented responses."""

from __future__ import annotations

from typing import Any


def tavily_result(title: str, url: str, content: str, score: float = 0.9) -> dict[str, Any]:
    """One entry of ``results[]``."""
    return {"title": title, "url": url, "content": content, "score": score, "raw_content": None}


def tavily_response(query: str, *results: dict[str, Any]) -> dict[str, Any]:
    """A ``POST /search`` 200 body."""
    return {
        "query": query,
        "follow_up_questions": None,
        "answer": None,
        "images": [],
        "results": list(results),
        "response_time": 1.09,
    }


def tavily_error(message: str) -> dict[str, Any]:
    """An error body (``{"detail": {"error": ...}}``)."""
    return {"detail": {"error": message}}
