"""Ports for language models: the intent classifier. The answer model is a LangChain chat model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from eco2.domain.intents import Intent


@dataclass(frozen=True, slots=True)
class IntentPrediction:
    """Intents found in a message, primary first, with per-intent confidence in [0, 1].

    ``usage`` holds the ``input_tokens`` and ``output_tokens`` of the model call behind the
    prediction; it is empty for a classifier that calls no model.
    """

    intents: tuple[Intent, ...]
    scores: dict[str, float] = field(default_factory=dict)
    usage: dict[str, int] = field(default_factory=dict)

    @property
    def primary(self) -> Intent:
        """The main intent."""
        return self.intents[0] if self.intents else Intent.GENERAL


class IntentClassifierPort(Protocol):
    """Classifies a message into one or more intents."""

    async def classify(self, text: str) -> IntentPrediction:
        """Return the intents of ``text``; never empty (``general`` when unsure)."""
        ...
