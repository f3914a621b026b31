"""Domain rules: the intent map of DESIGN.md §3 and request validation."""

from __future__ import annotations

import pytest

from eco2.domain.chat import ChatRequest, GeoPoint, new_trace_id
from eco2.domain.errors import InvalidRequestError
from eco2.domain.intents import INTENT_SPECS, Feature, Intent, Subagent, subagents_for


def test_ten_intents_each_with_a_spec() -> None:
    assert len(Intent) == 10
    assert set(INTENT_SPECS) == set(Intent)


@pytest.mark.parametrize(
    ("intent", "feature", "subagents"),
    [
        (Intent.WASTE, Feature.RAG, ("waste_rag", "weather")),
        (Intent.BULK_WASTE, Feature.EXTERNAL_API, ("bulk_waste", "weather")),
        (Intent.CHARACTER, Feature.GRPC, ("character",)),
        (Intent.IMAGE_GENERATION, Feature.LLM, ("image_generation",)),
        (Intent.GENERAL, Feature.LLM, ("general",)),
    ],
)
def test_feature_map(intent: Intent, feature: Feature, subagents: tuple[str, ...]) -> None:
    spec = INTENT_SPECS[intent]
    assert spec.feature is feature
    assert tuple(s.value for s in spec.subagents) == subagents
    assert spec.rag_feedback is (intent is Intent.WASTE)


def test_subagents_are_planned_once_in_order() -> None:
    plan = subagents_for([Intent.BULK_WASTE, Intent.WEATHER, Intent.WASTE])
    assert plan == [Subagent.BULK_WASTE, Subagent.WEATHER, Subagent.WASTE_RAG]
    assert subagents_for([]) == [Subagent.GENERAL]


def test_unknown_intent_is_general() -> None:
    assert Intent.parse("recycling_trivia") is Intent.GENERAL
    assert Intent.parse(" Waste ") is Intent.WASTE


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"message": "   "}, "message"),
        ({"message": "\u200b\x00 \u2060"}, "message"),  # nothing visible is empty too
        ({"message": "x" * 2001}, "message"),
        ({"message": "hi", "session_id": "bad id!"}, "session_id"),
        ({"message": "hi", "image_url": "file:///etc/passwd"}, "image_url"),
    ],
)
def test_request_validation_names_the_field(kwargs: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        ChatRequest(**kwargs)
    assert caught.value.field == field


def test_coordinates_are_checked() -> None:
    with pytest.raises(InvalidRequestError, match="latitude"):
        GeoPoint(91, 0)
    with pytest.raises(InvalidRequestError, match="longitude"):
        GeoPoint(0, 181)
    assert ChatRequest("  페트병  ").message == "페트병"


def test_trace_ids_are_w3c_shaped() -> None:
    trace_id = new_trace_id()
    assert len(trace_id) == 32 and int(trace_id, 16) != 0
