"""Builds the chat graph (DESIGN.md §3). Nothing is built at import time."""

from __future__ import annotations

from typing import Any, Literal

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from eco2.domain.intents import Subagent
from eco2.pipeline.context import PipelineContext
from eco2.pipeline.nodes.aggregator import aggregator
from eco2.pipeline.nodes.answer import answer
from eco2.pipeline.nodes.instrument import instrumented
from eco2.pipeline.nodes.intent import intent
from eco2.pipeline.nodes.lookups import LOOKUPS
from eco2.pipeline.nodes.subagent import subagent_node
from eco2.pipeline.nodes.vision import after_intent, vision
from eco2.pipeline.nodes.waste_rag import rag_fallback, waste_rag
from eco2.pipeline.router import fan_out, router
from eco2.pipeline.state import ChatState

ChatGraph = CompiledStateGraph[ChatState, PipelineContext, ChatState, ChatState]
# Run with ``durability=CHECKPOINT_DURABILITY``: the checkpointer is conversation memory, not
# crash recovery (a redelivered job starts the turn over), so the thread is saved once, when the
# turn ends, instead of after each of the five or six steps.
CHECKPOINT_DURABILITY: Literal["exit"] = "exit"


def build_graph(checkpointer: BaseCheckpointSaver[Any] | None = None) -> ChatGraph:
    """Compile the chat graph; it saves the thread once per turn, when the turn ends.

    ``aggregator`` is deferred, so it runs exactly once after every branch has finished, however
    many steps a branch takes (``waste_rag`` → ``rag_fallback`` is two).
    """
    builder = StateGraph(ChatState, context_schema=PipelineContext)
    builder.add_node("intent", instrumented("intent", intent))
    builder.add_node("vision", instrumented("vision", vision))
    builder.add_node("router", instrumented("router", router))
    builder.add_node(
        Subagent.WASTE_RAG.value,
        instrumented(Subagent.WASTE_RAG.value, waste_rag),
        destinations=("rag_fallback", "aggregator"),
    )
    builder.add_node("rag_fallback", instrumented("rag_fallback", rag_fallback))
    for subagent, lookup in LOOKUPS.items():
        name = subagent.value
        builder.add_node(name, instrumented(name, subagent_node(name, lookup)))
        builder.add_edge(name, "aggregator")
    builder.add_node("aggregator", instrumented("aggregator", aggregator), defer=True)
    builder.add_node("answer", instrumented("answer", answer))

    builder.add_edge(START, "intent")
    builder.add_conditional_edges("intent", after_intent, ["vision", "router"])
    builder.add_edge("vision", "router")
    builder.add_conditional_edges("router", fan_out, [s.value for s in Subagent])
    builder.add_edge("rag_fallback", "aggregator")
    builder.add_edge("aggregator", "answer")
    builder.add_edge("answer", END)
    return builder.compile(checkpointer=checkpointer)
