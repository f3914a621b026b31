"""The vision node (DESIGN.md §3): names the household item a request's picture shows.

It runs only for a request carrying ``image_url``, between ``intent`` and ``router``. A
multimodal chat model (the OpenAI-compatible provider's ``ECO2_VISION_MODEL``) is asked for the
item's name; the name joins the message for routing and retrieval, so "이거 어떻게 버려?" with a
photo of a PET bottle is answered as a question about PET bottles. Offline, or when the model
fails, it reports its status like a sub-agent (``not_configured``, ``timeout``, ``failed``,
``empty``) and the text alone is used; the answer then says the picture was not looked at.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.runtime import Runtime

from eco2.domain.errors import NoResultsError, NotConfiguredError
from eco2.domain.intents import Intent
from eco2.domain.subagents import SubagentStatus
from eco2.pipeline.context import PipelineContext
from eco2.pipeline.genai_spans import invoke
from eco2.pipeline.nodes.subagent import run_lookup
from eco2.pipeline.state import ChatState

MAX_ITEM_CHARS = 40
NOTHING = frozenset({"", "없음", "none", "unknown", "모름"})
PROMPT = (
    "You help a Korean recycling assistant. Name the one household item to be thrown away that "
    "the picture shows, in Korean, as a short noun phrase (e.g. 페트병, 깨진 유리컵, 소파). "
    "Answer with the name only. If no such item is visible, answer 없음."
)


async def _identify(state: ChatState, ctx: PipelineContext) -> dict[str, Any]:
    model = ctx.ports.vision_model
    if model is None:
        raise NotConfiguredError("vision needs a multimodal model: ECO2_LLM_PROVIDER=openai")
    question = HumanMessage(
        content=[
            {"type": "text", "text": state.get("message", "")},
            {"type": "image_url", "image_url": {"url": state.get("image_url") or ""}},
        ]
    )
    reply = await invoke(ctx.ports.tracer, model, [SystemMessage(PROMPT), question])
    lines = str(reply.text).strip().splitlines()
    item = lines[0].strip(" .\"'") if lines else ""
    if item.lower() in NOTHING:
        raise NoResultsError("no household item recognised in the picture")
    return {"item": item[:MAX_ITEM_CHARS]}


def with_item(intents: list[str]) -> list[str]:
    """The intents once a pictured item is known: a disposal question about it comes first
    when the text alone asked nothing in particular, and is added otherwise."""
    waste = Intent.WASTE.value
    if waste in intents:
        return intents
    if intents in ([], [Intent.GENERAL.value]):
        return [waste]
    return [*intents, waste]


async def vision(state: ChatState, runtime: Runtime[PipelineContext]) -> dict[str, Any]:
    """Identify the pictured item; its context tells the answer how the picture was used."""
    outcome = await run_lookup("vision", _identify, state, runtime.context)
    update: dict[str, Any] = {"contexts": [outcome.to_dict()]}
    if outcome.status is SubagentStatus.OK:
        update["pictured"] = outcome.data["item"]
        update["intents"] = with_item(list(state.get("intents", [])))
    return update


def after_intent(state: ChatState) -> str:
    """``vision`` for a request with a picture, else straight to ``router``."""
    return "vision" if state.get("image_url") else "router"
