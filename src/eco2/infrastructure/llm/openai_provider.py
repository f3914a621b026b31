"""OpenAI-compatible provider (OpenAI, vLLM, Ollama, … by base URL) through ``langchain-openai``.

The answer model is a plain ``ChatOpenAI`` streaming with usage; the intent classifier asks the
same kind of model for structured output (function calling, the most widely supported mode).
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import Runnable
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, Field, SecretStr

from eco2.application.ports.llm import IntentPrediction
from eco2.domain.intents import INTENT_SPECS, Intent


def build_chat_model(
    *,
    model: str,
    api_key: SecretStr,
    base_url: str | None,
    timeout_s: float,
    max_retries: int,
    temperature: float = 0.2,
) -> ChatOpenAI:
    """Return a streaming ``ChatOpenAI`` that reports token usage on streamed responses."""
    return ChatOpenAI(
        model=model,
        api_key=api_key,
        base_url=base_url,
        timeout=timeout_s,
        max_retries=max_retries,
        temperature=temperature,
        streaming=True,
        stream_usage=True,
    )


class IntentOutput(BaseModel):
    """Intents of a user message, the main one first."""

    intents: list[str] = Field(
        description="Intent labels from the allowed list, the first-asked (primary) one first."
    )


def _instructions() -> str:
    lines = [f"- {spec.intent.value}: {spec.description}" for spec in INTENT_SPECS.values()]
    return (
        "Classify the user's message for a Korean recycling assistant into one or more intents. "
        "A message may carry several requests; list every intent, the first-asked one first. "
        "Use only these labels:\n" + "\n".join(lines) + "\nAnything else is general."
    )


class OpenAIIntentClassifier:
    """``IntentClassifierPort`` over an OpenAI-compatible chat model with structured output.

    Args:
        model: A chat model supporting tool/function calling.
    """

    def __init__(self, model: BaseChatModel) -> None:
        self.chat_model = model
        """The model asked (the pipeline records its call as a GenAI span)."""
        self._structured: Runnable[Any, Any] = model.with_structured_output(
            IntentOutput, method="function_calling", include_raw=True
        )
        self._system = SystemMessage(_instructions())

    async def classify(self, text: str) -> IntentPrediction:
        """Classify ``text``; unknown labels become ``general``, duplicates are dropped.

        A reply that does not parse is ``general``; the call's token usage is kept either way.
        """
        output = await self._structured.ainvoke(
            [self._system, HumanMessage(text)], config={"run_name": "intent_classifier"}
        )
        parsed = output.get("parsed") if isinstance(output, dict) else None
        labels = parsed.intents if isinstance(parsed, IntentOutput) else []
        intents = tuple(dict.fromkeys(Intent.parse(label) for label in labels)) or (Intent.GENERAL,)
        raw = output.get("raw") if isinstance(output, dict) else None
        usage = getattr(raw, "usage_metadata", None) or {}
        return IntentPrediction(
            intents,
            {i.value: 1.0 for i in intents},
            {k: int(usage[k]) for k in ("input_tokens", "output_tokens") if k in usage},
        )
