"""The vision node (DESIGN.md §3): names the household item a request's picture shows.

It runs only for a request carrying ``image_url``, between ``intent`` and ``router``. A
multimodal chat model (the OpenAI-compatible provider's ``ECO2_VISION_MODEL``) is asked for the
item's name, which is fed to intent and routing: the message the sub-agents see becomes "<item>
<message>" and is classified again, so "이거 어떻게 버려?" with a photo of a sofa is a bulk-waste
question about a sofa. A reply that is not a short item name counts as "nothing recognised".
Offline, or when the model fails, the node reports its status like a sub-agent
(``not_configured``, ``timeout``, ``failed``, ``empty``) and the text alone is used; the answer
then says the picture was not looked at.
"""

from __future__ import annotations

import re
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.runtime import Runtime

from eco2.domain.errors import NoResultsError, NotConfiguredError
from eco2.domain.intents import Intent
from eco2.domain.subagents import SubagentStatus
from eco2.pipeline.context import PipelineContext
from eco2.pipeline.genai_spans import invoke
from eco2.pipeline.nodes.intent import classify
from eco2.pipeline.nodes.subagent import run_lookup
from eco2.pipeline.state import ChatState

MAX_ITEM_CHARS = 20  # a name, not a sentence: "깨진 유리컵", "전기 모기채", "소파"
_DECORATION = re.compile(r"[*_`#>\"'“”‘’「」\[\]()]+")
_NOTHING = re.compile(r"없|모르|모름|no\b|none|unknown|not\b", re.IGNORECASE)
_SENTENCE = re.compile(r"(니다|에요|예요|어요|아요|이다|네요|군요)$")  # Korean sentence endings
PROMPT = (
    "You help a Korean recycling assistant. Name the one household item to be thrown away that "
    "the picture shows, in Korean, as a short noun phrase (e.g. 페트병, 깨진 유리컵, 소파). "
    "Answer with the name only. If no such item is visible, answer 없음."
)


def item_name(reply: str) -> str | None:
    """The item named by the model's reply, or ``None`` when it names none.

    Only a short name is taken: markdown and quotes are dropped, and a sentence, a refusal or a
    "nothing here" in any words is no item (the text alone is then used).
    """
    lines = [line for line in reply.strip().splitlines() if line.strip()]
    if not lines:
        return None
    name = _DECORATION.sub("", lines[0]).strip(" .,!?:;")
    if not name or len(name) > MAX_ITEM_CHARS or _NOTHING.search(name) or _SENTENCE.search(name):
        return None
    return name


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
    item = item_name(str(reply.text))
    if item is None:
        raise NoResultsError("no household item recognised in the picture")
    return {"item": item}


def with_item(intents: list[str]) -> list[str]:
    """The intents once a pictured item is known: a thing to throw away is a disposal question
    when nothing more specific was asked, and gains one otherwise."""
    specific = [i for i in intents if i != Intent.GENERAL.value]
    if {Intent.WASTE.value, Intent.BULK_WASTE.value} & set(specific):
        return specific
    return [*specific, Intent.WASTE.value]


async def vision(state: ChatState, runtime: Runtime[PipelineContext]) -> dict[str, Any]:
    """Identify the pictured item; its context tells the answer how the picture was used."""
    ctx = runtime.context
    outcome = await run_lookup("vision", _identify, state, ctx)
    update: dict[str, Any] = {"contexts": [outcome.to_dict()]}
    if outcome.status is SubagentStatus.OK:
        item = str(outcome.data["item"])
        message = f"{item} {state.get('message', '')}".strip()
        update["message"] = message  # what the sub-agents search for and answer about
        update["intents"] = with_item(await classify(ctx.ports, message))
    return update


def after_intent(state: ChatState) -> str:
    """``vision`` for a request with a picture, else straight to ``router``."""
    return "vision" if state.get("image_url") else "router"
