"""A lean LangSmith tracer: each job's runs kept as plain dicts, posted once, when the job ends.

LangChain's own tracer (``LangChainTracer``) cost a traced job about 9 ms of CPU against ~30 ms
for the job itself (``eco2 bench overhead``): a pydantic ``Run`` per run (its field defaults
inspected through ``inspect.signature`` each time), each run posted when it starts and patched
when it ends (two serialisations and two queue items), a copy of the root run at its end, and the
SDK thread woken for each of the ~18 operations. The LangChain callbacks themselves (which LangGraph
drives once a handler is attached) cost about a fifth of that.

This handler keeps one dict per run (the fields LangSmith ingests: id, trace id, dotted order,
parent, name, type, times, inputs, outputs, error, tags, metadata, events) and, when the job's
root run ends, hands the whole tree to the SDK client, parents first, each run complete: one
create operation per run, serialised once, batched by the SDK's background thread. A run is
therefore visible in LangSmith when its job ends, not while it runs (jobs last seconds). Runs are
serialised at that moment: nodes return updates and never mutate the state they were given, so a
node run's inputs are still what the node saw.

Every run carries what LangChain's tracer gave it: the node's state as inputs, its update as
outputs, the model call's messages and generation, the first streamed token's time (LangSmith's
time to first token), ``env:*``/default/request tags, the job metadata (and LangGraph's
``langgraph_*`` keys), ``subagent:<name>`` on sub-agent node runs.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langgraph.types import Send

from eco2.domain.intents import Subagent
from eco2.infrastructure.telemetry.run_config import merge_tags

SUBAGENT_NODES = frozenset(s.value for s in Subagent) | {"rag_fallback"}
Run = dict[str, Any]


def _name(serialized: dict[str, Any] | None, name: str | None, default: str) -> str:
    if name:
        return name
    if serialized:
        found = serialized.get("name") or (serialized.get("id") or [default])[-1]
        return str(found)
    return default


def _as_dict(value: Any, key: str) -> dict[str, Any]:
    return value if isinstance(value, dict) else {key: value}


def _chain_outputs(outputs: Any) -> dict[str, Any]:
    """A node's update as is; an edge's ``Send`` list as the nodes it sends to.

    Each ``Send`` carries the whole state (the edge run's own inputs): serialising it again per
    destination, through ``repr``, cost more than the rest of the run and showed nothing new.
    """
    if isinstance(outputs, list) and outputs and all(isinstance(o, Send) for o in outputs):
        return {"output": [{"send": o.node} for o in outputs]}
    return _as_dict(outputs, "output")


class JobRunTracer(BaseCallbackHandler):
    """LangChain callback handler building each job's run tree and posting it when it ends.

    Args:
        client: The LangSmith SDK client (its background thread batches the posts).
        project: The project runs go to.
    """

    run_inline = True  # called in the event loop directly: no executor hop per event

    def __init__(self, client: Any, project: str) -> None:
        self._client = client
        self._project = project
        self._runs: dict[UUID, Run] = {}
        self._trees: dict[UUID, list[Run]] = {}  # root run id → its runs, in start order

    def root(self, run_id: UUID) -> Run | None:
        """The root run ``run_id`` while its job runs (for tags learnt on the way)."""
        run = self._runs.get(run_id)
        return run if run is not None and run["parent_run_id"] is None else None

    def pending(self) -> int:
        """Runs of jobs still running (kept until their root run ends)."""
        return len(self._runs)

    def _start(
        self,
        run_type: str,
        name: str,
        run_id: UUID,
        parent_run_id: UUID | None,
        inputs: dict[str, Any],
        tags: Sequence[str] | None,
        metadata: dict[str, Any] | None,
        extra: dict[str, Any] | None = None,
    ) -> Run:
        now = datetime.now(UTC)
        stamp = f"{now:%Y%m%dT%H%M%S%fZ}{run_id}"
        parent = self._runs.get(parent_run_id) if parent_run_id is not None else None
        if parent is None:
            parent_run_id, trace_id, dotted = None, run_id, stamp
        else:
            trace_id, dotted = parent["trace_id"], f"{parent['dotted_order']}.{stamp}"
        tags = list(tags or ())
        if run_type == "chain" and name in SUBAGENT_NODES:
            tags = merge_tags(tags, [f"subagent:{name}"])
        run: Run = {
            "id": run_id,
            "trace_id": trace_id,
            "dotted_order": dotted,
            "parent_run_id": parent_run_id,
            "name": name,
            "run_type": run_type,
            "start_time": now,
            "inputs": inputs,
            "tags": tags,
            "extra": {**(extra or {}), "metadata": dict(metadata or {})},
            "events": [{"name": "start", "time": now}],
            "session_name": self._project,
        }
        self._runs[run_id] = run
        self._trees.setdefault(trace_id, []).append(run)
        return run

    def _end(
        self, run_id: UUID, outputs: dict[str, Any] | None, error: BaseException | None = None
    ) -> None:
        run = self._runs.get(run_id)
        if run is None:
            return
        now = datetime.now(UTC)
        run["end_time"] = now
        run["events"].append({"name": "end" if error is None else "error", "time": now})
        if outputs is not None:
            run["outputs"] = outputs
        if error is not None:
            run["error"] = "".join(traceback.format_exception(error)).strip()
        if run["parent_run_id"] is None:
            self._post(self._trees.pop(run["trace_id"], []))

    def _post(self, runs: list[Run]) -> None:
        """Hand a finished tree to the client, parents first (runs are in start order)."""
        for run in runs:
            self._runs.pop(run["id"], None)
        for run in runs:
            if "end_time" not in run:  # ended without its end event (cancelled under a task)
                run["end_time"] = runs[0]["end_time"]
            self._client.create_run(**run)

    # Chains: the graph, its nodes and edge functions.

    def on_chain_start(
        self,
        serialized: dict[str, Any],
        inputs: dict[str, Any],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Start a chain run (its inputs as given: a node's is its state)."""
        name = _name(serialized, kwargs.get("name"), "chain")
        run_type = kwargs.get("run_type") or "chain"
        self._start(
            run_type, name, run_id, parent_run_id, _as_dict(inputs, "input"), tags, metadata
        )

    def on_chain_end(self, outputs: dict[str, Any], *, run_id: UUID, **kwargs: Any) -> None:
        """End a chain run with its outputs (a node's is its update)."""
        self._end(run_id, _chain_outputs(outputs))

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """End a chain run with its error."""
        self._end(run_id, None, error)

    # Models.

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Start a model run; its inputs are the prompt messages."""
        self._llm_start(
            serialized, {"messages": messages}, run_id, parent_run_id, tags, metadata, kwargs
        )

    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Start a completion-model run; its inputs are the prompts."""
        self._llm_start(
            serialized, {"prompts": prompts}, run_id, parent_run_id, tags, metadata, kwargs
        )

    def _llm_start(
        self,
        serialized: dict[str, Any],
        inputs: dict[str, Any],
        run_id: UUID,
        parent_run_id: UUID | None,
        tags: list[str] | None,
        metadata: dict[str, Any] | None,
        kwargs: dict[str, Any],
    ) -> None:
        extra: dict[str, Any] = {
            k: kwargs[k] for k in ("invocation_params", "options", "batch_size") if k in kwargs
        }
        name = _name(serialized, kwargs.get("name"), "llm")
        run = self._start("llm", name, run_id, parent_run_id, inputs, tags, metadata, extra)
        run["serialized"] = serialized

    def on_llm_new_token(self, token: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Keep the first token's time only (LangSmith's time to first token)."""
        run = self._runs.get(run_id)
        if run is not None and len(run["events"]) == 1:
            run["events"].append({"name": "new_token", "time": datetime.now(UTC)})

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """End a model run with its generations."""
        generations = [
            [
                {
                    "text": g.text,
                    "generation_info": g.generation_info,
                    "type": g.type,
                    **({"message": g.message} if hasattr(g, "message") else {}),
                }
                for g in batch
            ]
            for batch in response.generations
        ]
        self._end(run_id, {"generations": generations, "llm_output": response.llm_output})

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """End a model run with its error."""
        self._end(run_id, None, error)

    # Tools and retrievers (the graph has none today; traced if one is added).

    def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Start a tool run."""
        name = _name(serialized, kwargs.get("name"), "tool")
        self._start(
            "tool", name, run_id, parent_run_id, inputs or {"input": input_str}, tags, metadata
        )

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """End a tool run."""
        self._end(run_id, {"output": output})

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """End a tool run with its error."""
        self._end(run_id, None, error)

    def on_retriever_start(
        self,
        serialized: dict[str, Any],
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Start a retriever run."""
        name = _name(serialized, kwargs.get("name"), "retriever")
        self._start("retriever", name, run_id, parent_run_id, {"query": query}, tags, metadata)

    def on_retriever_end(self, documents: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """End a retriever run with its documents."""
        self._end(run_id, {"documents": documents})

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """End a retriever run with its error."""
        self._end(run_id, None, error)
