"""The graph's state and its reducers."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages


def merge_contexts(
    left: list[dict[str, Any]] | None, right: list[dict[str, Any]] | None
) -> list[dict[str, Any]]:
    """Append sub-agent contexts from parallel branches; ``None`` starts a new turn empty.

    The checkpointer keeps a thread's state between turns, so each turn's input sends ``None``
    to drop the previous turn's contexts.
    """
    if right is None:
        return []
    return [*(left or []), *right]


class ChatState(TypedDict, total=False):
    """State of one turn; ``messages`` is the conversation history kept per ``thread_id``."""

    messages: Annotated[list[AnyMessage], add_messages]
    message: str
    location: dict[str, float] | None
    image_url: str | None
    intents: list[str]
    plan: list[str]
    contexts: Annotated[list[dict[str, Any]], merge_contexts]
    aggregated: list[dict[str, Any]]
    answer: str
    usage: dict[str, int]


def question_id(job_id: str) -> str:
    """The id of a job's question in its session's thread (the same on every run of the job)."""
    return f"{job_id}:question"


def answer_id(job_id: str) -> str:
    """The id of a job's answer in its session's thread (the same on every run of the job)."""
    return f"{job_id}:answer"
