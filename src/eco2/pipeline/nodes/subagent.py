"""Runs a sub-agent's look-up under its own timeout; every failure becomes a marked context."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from langgraph.runtime import Runtime
from opentelemetry import trace

from eco2.domain.errors import NoResultsError, NotConfiguredError, SubagentError
from eco2.domain.subagents import SubagentResult, SubagentStatus
from eco2.pipeline.context import PipelineContext
from eco2.pipeline.state import ChatState

log = logging.getLogger(__name__)

Lookup = Callable[[ChatState, PipelineContext], Awaitable[dict[str, Any]]]


async def run_lookup(
    name: str, lookup: Lookup, state: ChatState, ctx: PipelineContext
) -> SubagentResult:
    """Run ``lookup`` under the sub-agent's timeout; never raises (except on cancellation)."""
    timeout = ctx.config.timeout_for(name)
    started = time.perf_counter()

    def result(status: SubagentStatus, data: dict[str, Any], error: str | None) -> SubagentResult:
        return SubagentResult(name, status, data, error, (time.perf_counter() - started) * 1000)

    # No run or span of its own: every sub-agent call is one node's whole work, so the node's
    # LangSmith run (tagged ``subagent:<name>``) and its ``node <name>`` span (given
    # ``eco2.subagent`` here, and the outcome as ``eco2.status``) are the sub-agent's; a nested
    # one per call doubled the tracer's cost and told nothing new.
    trace.get_current_span().set_attribute("eco2.subagent", name)
    return await _guarded(name, lambda: lookup(state, ctx), limit_s=timeout, result=result)


async def _guarded(
    name: str,
    call: Callable[[], Awaitable[dict[str, Any]]],
    *,
    limit_s: float,
    result: Callable[[SubagentStatus, dict[str, Any], str | None], SubagentResult],
) -> SubagentResult:
    try:
        data = await asyncio.wait_for(call(), limit_s)
    except TimeoutError:
        log.warning("subagent_timeout", extra={"subagent": name, "timeout_s": limit_s})
        return result(SubagentStatus.TIMEOUT, {}, f"no answer within {limit_s:g} s")
    except NotConfiguredError as exc:
        return result(SubagentStatus.NOT_CONFIGURED, {}, str(exc))
    except NoResultsError as exc:
        return result(SubagentStatus.EMPTY, {}, str(exc) or "no results")
    except SubagentError as exc:
        log.warning("subagent_failed", extra={"subagent": name, "error": str(exc)})
        return result(SubagentStatus.FAILED, {}, str(exc))
    except Exception as exc:  # a sub-agent must never fail the job
        log.exception("subagent_crashed", extra={"subagent": name})
        return result(SubagentStatus.FAILED, {}, f"{type(exc).__name__}")
    return result(SubagentStatus.OK, data, None)


def subagent_node(
    name: str, lookup: Lookup
) -> Callable[[ChatState, Runtime[PipelineContext]], Awaitable[dict[str, Any]]]:
    """Return a graph node that runs ``lookup`` and appends its context."""

    async def node(state: ChatState, runtime: Runtime[PipelineContext]) -> dict[str, Any]:
        outcome = await run_lookup(name, lookup, state, runtime.context)
        return {"contexts": [outcome.to_dict()]}

    return node
