"""The router: plans the sub-agents for the intents and fans out to them with ``Send``."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import Send

from eco2.domain.intents import Intent, subagents_for
from eco2.pipeline.context import PipelineContext
from eco2.pipeline.state import ChatState


async def router(state: ChatState, runtime: Runtime[PipelineContext]) -> dict[str, Any]:
    """Record the plan: every sub-agent the intents need, each once."""
    intents = [Intent.parse(i) for i in state.get("intents", [])]
    return {"plan": [s.value for s in subagents_for(intents)]}


def fan_out(state: ChatState) -> list[Send]:
    """Send the turn's state to every planned sub-agent; they run concurrently."""
    return [Send(name, state) for name in state["plan"]]
