"""The ten intents, the features they belong to and the sub-agents each one needs (DESIGN.md §3)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Intent(StrEnum):
    """What a user asks for. Unknown labels map to ``GENERAL``."""

    WASTE = "waste"
    CHARACTER = "character"
    LOCATION = "location"
    BULK_WASTE = "bulk_waste"
    WEATHER = "weather"
    WEB_SEARCH = "web_search"
    COLLECTION_POINT = "collection_point"
    RECYCLABLE_PRICE = "recyclable_price"
    IMAGE_GENERATION = "image_generation"
    GENERAL = "general"

    @classmethod
    def parse(cls, value: str) -> Intent:
        """Return the intent named ``value``, or ``GENERAL`` when it is not one of the ten."""
        try:
            return cls(value.strip().lower())
        except ValueError:
            return cls.GENERAL


class Feature(StrEnum):
    """The kind of work an intent needs; used for tags and load-test analysis."""

    RAG = "rag"
    EXTERNAL_API = "external_api"
    GRPC = "grpc"
    LLM = "llm"


class Subagent(StrEnum):
    """The sub-agent nodes of the pipeline."""

    WASTE_RAG = "waste_rag"
    WEATHER = "weather"
    BULK_WASTE = "bulk_waste"
    CHARACTER = "character"
    LOCATION = "location"
    COLLECTION_POINT = "collection_point"
    RECYCLABLE_PRICE = "recyclable_price"
    WEB_SEARCH = "web_search"
    IMAGE_GENERATION = "image_generation"
    GENERAL = "general"


@dataclass(frozen=True, slots=True)
class IntentSpec:
    """How one intent is served."""

    intent: Intent
    feature: Feature
    subagents: tuple[Subagent, ...]
    rag_feedback: bool
    description: str


INTENT_SPECS: dict[Intent, IntentSpec] = {
    spec.intent: spec
    for spec in (
        IntentSpec(
            Intent.WASTE,
            Feature.RAG,
            (Subagent.WASTE_RAG, Subagent.WEATHER),
            True,
            "How to sort or dispose of a household item (RAG with a quality-feedback step).",
        ),
        IntentSpec(
            Intent.BULK_WASTE,
            Feature.EXTERNAL_API,
            (Subagent.BULK_WASTE, Subagent.WEATHER),
            False,
            "Furniture and large appliances: reporting, sticker fees, free pickup (MOIS data).",
        ),
        IntentSpec(
            Intent.CHARACTER,
            Feature.GRPC,
            (Subagent.CHARACTER,),
            False,
            "The Eco² characters, served by the character catalogue (gRPC in distributed mode).",
        ),
        IntentSpec(
            Intent.LOCATION,
            Feature.EXTERNAL_API,
            (Subagent.LOCATION,),
            False,
            "Places near the user or a named place (Kakao Local search).",
        ),
        IntentSpec(
            Intent.WEATHER,
            Feature.EXTERNAL_API,
            (Subagent.WEATHER,),
            False,
            "Current weather and short-term forecast (KMA).",
        ),
        IntentSpec(
            Intent.COLLECTION_POINT,
            Feature.EXTERNAL_API,
            (Subagent.COLLECTION_POINT,),
            False,
            "Dedicated collection boxes for batteries, lamps, medicines, clothes (KECO data).",
        ),
        IntentSpec(
            Intent.RECYCLABLE_PRICE,
            Feature.EXTERNAL_API,
            (Subagent.RECYCLABLE_PRICE,),
            False,
            "Market prices of recyclables (KECO monthly price survey).",
        ),
        IntentSpec(
            Intent.WEB_SEARCH,
            Feature.EXTERNAL_API,
            (Subagent.WEB_SEARCH,),
            False,
            "Live web search (DuckDuckGo or Tavily).",
        ),
        IntentSpec(
            Intent.IMAGE_GENERATION,
            Feature.LLM,
            (Subagent.IMAGE_GENERATION,),
            False,
            "Image generation (OpenAI images).",
        ),
        IntentSpec(
            Intent.GENERAL,
            Feature.LLM,
            (Subagent.GENERAL,),
            False,
            "Greetings, small talk and anything else (LLM only).",
        ),
    )
}


def subagents_for(intents: Iterable[Intent]) -> list[Subagent]:
    """Return the sub-agents needed for ``intents``, each once, in first-needed order."""
    needed: dict[Subagent, None] = {}
    for intent in intents:
        for subagent in INTENT_SPECS[intent].subagents:
            needed.setdefault(subagent, None)
    return list(needed) or [Subagent.GENERAL]
