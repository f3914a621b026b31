"""The look-up sub-agents: each turns one port's answer into facts for the answer model."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from langchain_core.messages import HumanMessage

from eco2.domain.chat import GeoPoint
from eco2.domain.errors import NoResultsError
from eco2.domain.intents import Subagent
from eco2.pipeline.context import PipelineContext
from eco2.pipeline.genai_spans import invoke
from eco2.pipeline.nodes.subagent import Lookup
from eco2.pipeline.state import ChatState


def _near(state: ChatState) -> GeoPoint | None:
    location = state.get("location")
    if not location:
        return None
    return GeoPoint(location["latitude"], location["longitude"])


async def character(state: ChatState, ctx: PipelineContext) -> dict[str, Any]:
    """Characters named in the message or standing for the waste category it mentions."""
    message = state["message"]
    hits = await ctx.ports.retrieval.search(message, k=1)
    categories = [hit.item.category for hit in hits if hit.matched_alias]
    found = await ctx.ports.characters.find(message, categories)
    if found:
        return {"match": "named_or_category", "characters": [asdict(c) for c in found]}
    everyone = await ctx.ports.characters.list_all()
    if not everyone:
        raise NoResultsError("the character catalogue is empty")
    return {"match": "catalogue", "characters": [asdict(c) for c in everyone]}


async def recyclable_price(state: ChatState, ctx: PipelineContext) -> dict[str, Any]:
    """Surveyed prices of the recyclables the message names."""
    quotes = await ctx.ports.prices.quote(state["message"])
    if not quotes:
        raise NoResultsError("no price for the items asked about")
    return {"prices": [asdict(q) for q in quotes]}


async def bulk_waste(state: ChatState, ctx: PipelineContext) -> dict[str, Any]:
    """Bulk-waste procedure and fees for the items (and district) the message names."""
    quotes = await ctx.ports.bulk_waste.quote(state["message"])
    if not quotes:
        raise NoResultsError("no bulk-waste fee table matches the question")
    return {"quotes": [asdict(q) for q in quotes]}


async def weather(state: ChatState, ctx: PipelineContext) -> dict[str, Any]:
    """Current weather at the user's location, a named place or the default location."""
    report = await ctx.ports.weather.report(_near(state), state["message"])
    return {"weather": asdict(report)}


async def location(state: ChatState, ctx: PipelineContext) -> dict[str, Any]:
    """Places matching the message near the user or a named place."""
    places = await ctx.ports.location.search(state["message"], _near(state))
    if not places:
        raise NoResultsError("no place found")
    return {"places": [asdict(p) for p in places]}


async def collection_point(state: ChatState, ctx: PipelineContext) -> dict[str, Any]:
    """Dedicated collection boxes for the item the message names."""
    points = await ctx.ports.collection_points.find(state["message"], _near(state))
    if not points:
        raise NoResultsError("no collection point found")
    return {"points": [asdict(p) for p in points]}


async def web_search(state: ChatState, ctx: PipelineContext) -> dict[str, Any]:
    """Web search hits for the message."""
    results = await ctx.ports.web_search.search(state["message"])
    if not results:
        raise NoResultsError("the web search returned nothing")
    return {"results": [asdict(r) for r in results]}


async def image_generation(state: ChatState, ctx: PipelineContext) -> dict[str, Any]:
    """An image generated from the message."""
    image = await ctx.ports.image_generation.generate(state["message"])
    return {"image": asdict(image)}


async def general(state: ChatState, ctx: PipelineContext) -> dict[str, Any]:
    """The general model's reply to the message."""
    reply = await invoke(
        ctx.ports.tracer, ctx.ports.general_model, [HumanMessage(state["message"])]
    )
    return {"reply": str(reply.text)}


LOOKUPS: dict[Subagent, Lookup] = {
    Subagent.CHARACTER: character,
    Subagent.RECYCLABLE_PRICE: recyclable_price,
    Subagent.BULK_WASTE: bulk_waste,
    Subagent.WEATHER: weather,
    Subagent.LOCATION: location,
    Subagent.COLLECTION_POINT: collection_point,
    Subagent.WEB_SEARCH: web_search,
    Subagent.IMAGE_GENERATION: image_generation,
    Subagent.GENERAL: general,
}
