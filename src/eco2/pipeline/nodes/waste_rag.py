"""The waste RAG sub-agent: retrieve knowledge-base items, grade the retrieval, route on quality.

Grading (the feedback step) looks at the best hit: an exact name/alias match or high coverage
of the question's words is ``good``; some coverage is ``partial``; otherwise ``poor``, and a poor
retrieval takes the fallback branch (``rag_fallback``).
"""

from __future__ import annotations

import asyncio
from enum import StrEnum
from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.runtime import Runtime
from langgraph.types import Command

from eco2.domain.errors import NoResultsError, NotConfiguredError, SubagentError
from eco2.domain.knowledge import RetrievalHit
from eco2.domain.subagents import SubagentStatus
from eco2.pipeline.context import PipelineContext
from eco2.pipeline.genai_spans import invoke
from eco2.pipeline.nodes.subagent import run_lookup
from eco2.pipeline.state import ChatState

GOOD_COVERAGE = 0.75
PARTIAL_COVERAGE = 0.4
AMBIGUOUS_MARGIN = 0.05
# Of rag_fallback's timeout (two sub-agent timeouts): web search gets one, so a provider's own
# deadline (ECO2_HTTP_DEADLINE_S, kept below the sub-agent timeout) ends a hung search first and
# its breaker counts the failure; the general model gets the rest.
WEB_SEARCH_SHARE = 0.5


class RetrievalQuality(StrEnum):
    """How well the knowledge base covers the question."""

    GOOD = "good"
    PARTIAL = "partial"
    POOR = "poor"


def grade(hits: list[RetrievalHit]) -> RetrievalQuality:
    """Grade a retrieval by the best hit's alias match, coverage and margin over the runner-up."""
    if not hits:
        return RetrievalQuality.POOR
    best = hits[0]
    if best.matched_alias:
        return RetrievalQuality.GOOD
    if best.coverage >= GOOD_COVERAGE:
        runner_up = hits[1].score if len(hits) > 1 else 0.0
        clear = best.score > 0 and (best.score - runner_up) / best.score >= AMBIGUOUS_MARGIN
        return RetrievalQuality.GOOD if clear else RetrievalQuality.PARTIAL
    if best.coverage >= PARTIAL_COVERAGE:
        return RetrievalQuality.PARTIAL
    return RetrievalQuality.POOR


def _hit_facts(hit: RetrievalHit) -> dict[str, Any]:
    item = hit.item
    return {
        "id": item.id,
        "name": item.name,
        "category": item.category,
        "category_name": item.category_name,
        "steps": list(item.steps),
        "mistakes": list(item.mistakes),
        "recyclable": item.recyclable,
        "score": round(hit.score, 4),
        "matched_alias": hit.matched_alias,
        "coverage": round(hit.coverage, 3),
    }


def _kept(hits: list[RetrievalHit], quality: RetrievalQuality) -> list[RetrievalHit]:
    matched = [hit for hit in hits if hit.matched_alias]
    if matched:
        return matched
    return hits[:1] if quality is RetrievalQuality.GOOD else hits[:2]


async def _retrieve(state: ChatState, ctx: PipelineContext) -> dict[str, Any]:
    hits = await ctx.ports.retrieval.search(state["message"], k=ctx.config.rag_top_k)
    quality = grade(hits)
    if quality is RetrievalQuality.POOR:
        return {"quality": quality.value, "items": []}
    return {"quality": quality.value, "items": [_hit_facts(h) for h in _kept(hits, quality)]}


async def waste_rag(state: ChatState, runtime: Runtime[PipelineContext]) -> Command[str]:
    """Retrieve and grade; go to ``rag_fallback`` on a poor (or failed) retrieval."""
    outcome = await run_lookup("waste_rag", _retrieve, state, runtime.context)
    poor = (
        outcome.status is not SubagentStatus.OK
        or outcome.data.get("quality") == RetrievalQuality.POOR.value
    )
    return Command(
        update={"contexts": [outcome.to_dict()]},
        goto="rag_fallback" if poor else "aggregator",
    )


async def _fallback(state: ChatState, ctx: PipelineContext) -> dict[str, Any]:
    """Walk the chain: web search when configured, then the general model.

    Web search gets half of the fallback's own timeout, so a slow search still leaves the
    general model its turn instead of ending the whole fallback as a timeout.
    """
    tried: list[dict[str, str]] = []
    budget_s = ctx.config.timeout_for("rag_fallback") * WEB_SEARCH_SHARE
    try:
        async with asyncio.timeout(budget_s):
            results = await ctx.ports.web_search.search(state["message"])
        if results:
            return {
                "path": "web_search",
                "tried": tried,
                "results": [
                    {"title": r.title, "url": r.url, "snippet": r.snippet} for r in results
                ],
            }
        tried.append({"source": "web_search", "status": "empty"})
    except NotConfiguredError:
        tried.append({"source": "web_search", "status": "not_configured"})
    except SubagentError as exc:
        tried.append({"source": "web_search", "status": "failed", "error": str(exc)})
    except TimeoutError:
        message = f"no answer within {budget_s:g} s"
        tried.append({"source": "web_search", "status": "timeout", "error": message})
    reply = await invoke(
        ctx.ports.tracer, ctx.ports.general_model, [HumanMessage(state["message"])]
    )
    if not str(reply.text).strip():
        raise NoResultsError("no fallback source had an answer")
    return {"path": "general_model", "tried": tried, "reply": str(reply.text)}


async def rag_fallback(state: ChatState, runtime: Runtime[PipelineContext]) -> dict[str, Any]:
    """The fallback branch of a poor retrieval; records the path it took."""
    outcome = await run_lookup("rag_fallback", _fallback, state, runtime.context)
    return {"contexts": [outcome.to_dict()]}
