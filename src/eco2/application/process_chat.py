"""The chat use case: run the pipeline for one job and publish its events.

Every job's stream ends with exactly one terminal event, ``done`` or ``error``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from eco2.application.ports.events import EventSinkPort
from eco2.application.ports.pipeline import (
    ChatPipelinePort,
    NodeProgress,
    PipelineResult,
    TokenDelta,
)
from eco2.application.token_coalescer import TokenCoalescer
from eco2.domain.chat import ChatJob, JobStatus
from eco2.domain.events import EventType, NodePhase, NodeTiming

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ChatOutcome:
    """What a finished job produced (the ``done`` payload, typed)."""

    job_id: str
    trace_id: str
    answer: str
    intents: list[str]
    subagents: list[dict[str, Any]]
    nodes: list[NodeTiming]
    usage: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """Return the ``done`` event payload / ``eco2 chat --json`` object."""
        return {
            "job_id": self.job_id,
            "intents": self.intents,
            "subagents": self.subagents,
            "answer": self.answer,
            "nodes": [node.to_dict() for node in self.nodes],
            "usage": self.usage,
            "trace_id": self.trace_id,
        }


class ProcessChat:
    """Runs one chat job end to end.

    Args:
        pipeline: The pipeline to run.
        events: Where the job's events go.
        coalesce_tokens: Most tokens per ``token`` entry.
        coalesce_delay_s: Longest a token waits to be written.
    """

    def __init__(
        self,
        pipeline: ChatPipelinePort,
        events: EventSinkPort,
        *,
        coalesce_tokens: int = 16,
        coalesce_delay_s: float = 0.02,
    ) -> None:
        self._pipeline = pipeline
        self._events = events
        self._coalesce_tokens = coalesce_tokens
        self._coalesce_delay_s = coalesce_delay_s

    async def execute(self, job: ChatJob) -> ChatOutcome | None:
        """Run ``job``; publish progress, tokens and one terminal event.

        Returns:
            The outcome, or ``None`` when the job ended with an ``error`` event.

        Raises:
            asyncio.CancelledError: without a terminal event: the caller decides whether the
                job is retried (shutdown) or failed (timeout, cancellation).
        """
        job.status = JobStatus.RUNNING
        timings: dict[str, NodeTiming] = {}
        out = TokenCoalescer(
            self._events,
            job.job_id,
            max_tokens=self._coalesce_tokens,
            max_delay_s=self._coalesce_delay_s,
        )
        try:
            async for update in self._pipeline.run(job):
                if isinstance(update, TokenDelta):
                    await out.token(update.node, update.text, update.count)
                elif isinstance(update, NodeProgress):
                    if update.phase is NodePhase.FINISHED:
                        timings[update.node] = NodeTiming(
                            update.node,
                            update.status,
                            update.at_ms - update.duration_ms,
                            update.duration_ms,
                        )
                    await out.event(EventType.PROGRESS, _progress_payload(update))
                elif isinstance(update, PipelineResult):
                    outcome = ChatOutcome(
                        job_id=job.job_id,
                        trace_id=job.trace_id,
                        answer=update.answer,
                        intents=update.intents,
                        subagents=update.subagents,
                        nodes=sorted(timings.values(), key=lambda t: (t.start_ms, t.name)),
                        usage=update.usage,
                    )
                    await out.event(EventType.DONE, outcome.to_dict())
                    job.status = JobStatus.DONE
                    return outcome
            raise RuntimeError("pipeline ended without a result")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the job must end with a terminal event whatever happened
            log.exception("chat_job_failed", extra={"job_id": job.job_id})
            await out.flush()
            await self.fail(job, "internal_error", f"{type(exc).__name__}: the job failed")
            return None

    async def fail(self, job: ChatJob, code: str, message: str) -> None:
        """Publish the job's terminal ``error`` event (also used by the worker on timeout)."""
        job.status = JobStatus.ERROR
        await asyncio.shield(
            self._events.publish(
                job.job_id,
                EventType.ERROR,
                {"code": code, "message": message, "trace_id": job.trace_id},
            )
        )


def _progress_payload(update: NodeProgress) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "node": update.node,
        "phase": update.phase.value,
        "at_ms": round(update.at_ms, 3),
    }
    if update.phase is NodePhase.FINISHED:
        payload["status"] = update.status
        payload["duration_ms"] = round(update.duration_ms, 3)
    if update.detail:
        payload["detail"] = update.detail
    return payload
