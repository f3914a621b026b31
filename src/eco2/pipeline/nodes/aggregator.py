"""The aggregator: runs once after every branch and orders the contexts by the plan."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from eco2.pipeline.context import PipelineContext
from eco2.pipeline.state import ChatState

_BRANCH_TAILS = {"rag_fallback": "waste_rag"}


async def aggregator(state: ChatState, runtime: Runtime[PipelineContext]) -> dict[str, Any]:
    """Order contexts as planned (the picture's first); a branch's later steps follow its first."""
    order = {name: i for i, name in enumerate(state.get("plan", []))}
    order["vision"] = -1  # before the routing it informed

    def rank(context: dict[str, Any]) -> tuple[int, int]:
        name = context["name"]
        head = _BRANCH_TAILS.get(name, name)
        return order.get(head, len(order)), int(name != head)

    ordered = sorted(state.get("contexts", []), key=rank)
    return {"aggregated": ordered}
