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
    With ``job_id``, the conversation is that job's: it ends at the job's question (a job run
    again after its turn was saved finds the question in place, later turns after it) and
    leaves out the job's own earlier answer.
    """
    if job_id is not None:
        ids = [m.id for m in messages]
        if question_id(job_id) in ids:
            messages = messages[: ids.index(question_id(job_id)) + 1]
        messages = [m for m in messages if m.id != answer_id(job_id)]
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


def _thread_update(
    messages: Sequence[BaseMessage], history_messages: int, job_id: str, text: str
) -> list[BaseMessage]:
    """The answer's change to the session's thread: removals of what no later prompt will
    carry, so the saved thread stays bounded, then the answer.

    Only messages before the job's question are removed: any after it are later turns of the
    session (the job run again after them). A job run again replaces its earlier answer in
    place; should that answer have lost its question to trimming meanwhile (the question is
    then added again, last), the old answer goes and the new one follows the question.
    """
    ids = [m.id for m in messages]
    question, earlier = question_id(job_id), answer_id(job_id)
    end = ids.index(question) if question in ids else len(messages)
    kept = {id(m) for m in conversation(messages[: end + 1], history_messages)}
    stale = [m for m in messages[:end] if id(m) not in kept and m.id and m.id != earlier]
    reply = AIMessage(text, id=earlier)
    if earlier in ids and ids.index(earlier) != end + 1:
        stale.append(messages[ids.index(earlier)])
        reply = AIMessage(text, id=f"{earlier}:again")  # an update cannot remove and re-add an id
    return [*(RemoveMessage(id=str(m.id)) for m in stale), reply]


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
        "messages": _thread_update(
            state.get("messages", []), ctx.config.history_messages, ctx.job_id, text
        ),
        "usage": {
            "input_tokens": usage["input_tokens"] if usage else 0,
            "output_tokens": usage["output_tokens"] if usage else 0,
        },
    }
