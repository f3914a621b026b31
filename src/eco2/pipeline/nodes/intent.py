"""The intent node: classifies the message into one or more intents, primary first."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from eco2.pipeline.context import PipelineContext
from eco2.pipeline.state import ChatState


async def intent(state: ChatState, runtime: Runtime[PipelineContext]) -> dict[str, Any]:
    """Classify ``state["message"]``."""
    prediction = await runtime.context.ports.classifier.classify(state["message"])
    return {"intents": [i.value for i in prediction.intents] or ["general"]}
