"""The answer node: prompts the answer model with the aggregated contexts and streams its tokens."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
)
from langgraph.runtime import Runtime

from eco2.application.answer_context import render_context_block
from eco2.pipeline.context import PipelineContext
from eco2.pipeline.genai_spans import model_call
from eco2.pipeline.state import ChatState, answer_id, question_id

SYSTEM_PROMPT = """너는 한국의 분리배출 도우미 '이코'야.
아래 컨텍스트에 있는 사실만으로 한국어로 답해.
- 컨텍스트의 waste_rag 항목을 쓸 때는 항목 이름을 밝히고 배출 단계를 순서대로 알려줘.
- status가 ok가 아닌 하위 에이전트는 무엇을 확인하지 못했는지 분명히 말해.
- 컨텍스트에 없는 사실(요금, 장소, 날씨 수치 등)은 지어내지 마."""


def conversation(
    messages: Sequence[BaseMessage], history_messages: int, job_id: str | None = None
) -> list[BaseMessage]:
    """The thread's messages worth keeping: the last ``history_messages`` before the question.

    A question followed by another question was left unanswered (its turn failed, timed out or
    was redelivered; the checkpointer saves a turn's input whatever its end): it is dropped.
    A job run again after its turn was saved finds its question in place, followed by its
    earlier answer: the conversation ends at the question (``job_id`` names it).
    """
    ids = [m.id for m in messages]
    if job_id is not None and question_id(job_id) in ids:
        messages = messages[: ids.index(question_id(job_id)) + 1]
    answered = [
        m
        for i, m in enumerate(messages)
        if not (isinstance(m, HumanMessage) and i + 1 < len(messages))
        or not isinstance(messages[i + 1], HumanMessage)
    ]
    return answered[-(history_messages + 1) :]


def build_messages(
    state: ChatState, history_messages: int, job_id: str | None = None
) -> list[BaseMessage]:
    """Return the prompt: instructions with the context block, recent history, the question."""
    block = render_context_block(state.get("intents", []), state.get("aggregated", []))
    history = conversation(state.get("messages", []), history_messages, job_id)
    return [SystemMessage(f"{SYSTEM_PROMPT}\n\n{block}"), *history]


def _forgotten(state: ChatState, history_messages: int, job_id: str) -> list[RemoveMessage]:
    """Removals of what no later prompt will carry, so a session's saved thread stays bounded.

    The job's own earlier answer (a run again after its turn was saved) is not removed: the new
    answer, under the same id, replaces it.
    """
    messages = list(state.get("messages", []))
    kept = {id(m) for m in conversation(messages, history_messages, job_id)}
    stale = [m for m in messages if id(m) not in kept and m.id and m.id != answer_id(job_id)]
    return [RemoveMessage(id=str(m.id)) for m in stale]


async def answer(state: ChatState, runtime: Runtime[PipelineContext]) -> dict[str, Any]:
    """Stream the answer; each text chunk goes out on the custom stream as a token."""
    ctx = runtime.context
    write = runtime.stream_writer
    messages = build_messages(state, ctx.config.history_messages, ctx.job_id)
    texts: list[str] = []
    meta: AIMessageChunk | None = None
    with model_call(ctx.ports.tracer, ctx.ports.answer_model) as call:
        async for chunk in ctx.ports.answer_model.astream(messages):
            delta = str(chunk.text)
            if delta:
                call.chunk()
                texts.append(delta)
                write({"kind": "token", "node": "answer", "text": delta})
            if chunk.usage_metadata or chunk.response_metadata:
                # Adding whole chunks costs a pydantic validation per token; the text is joined
                # once below and only chunks that carry usage or metadata are merged.
                bare = chunk.model_copy(update={"content": ""})
                meta = bare if meta is None else meta + bare
        call.finish(meta)
    text = "".join(texts)
    usage = meta.usage_metadata if meta is not None else None
    return {
        "answer": text,
        "messages": [
            *_forgotten(state, ctx.config.history_messages, ctx.job_id),
            AIMessage(text, id=answer_id(ctx.job_id)),  # a run again replaces its earlier one
        ],
        "usage": {
            "input_tokens": usage["input_tokens"] if usage else 0,
            "output_tokens": usage["output_tokens"] if usage else 0,
        },
    }
