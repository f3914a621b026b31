"""The intent node: classifies the message into one or more intents, primary first."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from eco2.application.ports.llm import IntentPrediction
from eco2.pipeline.context import PipelineContext, Ports
from eco2.pipeline.genai_spans import ModelBackedClassifier, model_call
from eco2.pipeline.state import ChatState


async def classify(ports: Ports, text: str) -> list[str]:
    """The intents of ``text``, primary first (a classifier asking a model gets a GenAI span)."""
    classifier = ports.classifier
    prediction: IntentPrediction
    if isinstance(classifier, ModelBackedClassifier):
        with model_call(ports.tracer, classifier.chat_model) as call:
            prediction = await classifier.classify(text)
            if prediction.usage:
                call.usage(prediction.usage)
    else:
        prediction = await classifier.classify(text)
    return [i.value for i in prediction.intents] or ["general"]


async def intent(state: ChatState, runtime: Runtime[PipelineContext]) -> dict[str, Any]:
    """Classify ``state["message"]``."""
    return {"intents": await classify(runtime.context.ports, state["message"])}
