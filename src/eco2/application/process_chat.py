"""The chat use case: run the pipeline for one job and publish its events.

Every job's stream ends with exactly one terminal event, ``done`` or ``error``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from eco2.application.job_metrics import JobMetrics
from eco2.application.ports.events import EventSinkPort
from eco2.application.ports.metrics import ABANDONED, MetricsPort
from eco2.application.ports.pipeline import (
    ChatPipelinePort,
    NodeProgress,
    PipelineResult,
    TokenDelta,
)
from eco2.application.token_coalescer import TokenCoalescer
from eco2.domain.chat import ChatJob, JobStatus
from eco2.domain.errors import StreamEndedError, UnavailableError
from eco2.domain.events import EventType, NodePhase, NodeTiming

log = logging.getLogger(__name__)
T = TypeVar("T")


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


UNWIND_S = 2.0
"""Longest wait for a timed-out or cancelled run to unwind before the job goes on without it."""


class _Overdue(Exception):
    """The job's run outlived its timeout (and was cancelled)."""


async def _within(
    run: Coroutine[Any, Any, T],
    timeout_s: float | None,
    job_id: str,
    lingering: set[asyncio.Future[Any]],
) -> T:
    """Await ``run`` for at most ``timeout_s``; then cancel it and raise ``_Overdue``.

    Only ``UNWIND_S`` is spent on the cancelled run's unwinding: LangGraph saves the thread's
    checkpoint as it exits, and a stalled database would otherwise hold the job's ``error``
    event, and its delivery, for as long as it stalls. A run still unwinding then finishes in
    the background, held in ``lingering`` until it does. Cancelling this coroutine cancels
    ``run`` the same way.
    """
    task = asyncio.ensure_future(run)
    task.add_done_callback(_retrieve)  # an abandoned run's failure is not an unhandled error
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout_s)
    except asyncio.CancelledError:
        await _unwind(task, job_id, lingering)
        raise
    if done:
        return task.result()
    await _unwind(task, job_id, lingering)
    raise _Overdue


async def _unwind(
    task: asyncio.Future[Any], job_id: str, lingering: set[asyncio.Future[Any]]
) -> None:
    task.cancel()
    # Held from now on: this wait may itself be cancelled (shutdown) while the run unwinds.
    lingering.add(task)
    task.add_done_callback(lingering.discard)
    await asyncio.wait({task}, timeout=UNWIND_S)
    if not task.done():
        log.warning("job_unwinding_late", extra={"job_id": job_id, "waited_s": UNWIND_S})


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


class ProcessChat:
    """Runs one chat job end to end.

    Args:
        pipeline: The pipeline to run.
        events: Where the job's events go.
        metrics: Where the job's metrics go.
        provider: Model provider label for metrics.
        coalesce_tokens: Most tokens per ``token`` entry.
        coalesce_delay_s: Longest a token waits to be written.
    """

    def __init__(
        self,
        pipeline: ChatPipelinePort,
        events: EventSinkPort,
        *,
        metrics: MetricsPort,
        provider: str = "offline",
        coalesce_tokens: int = 16,
        coalesce_delay_s: float = 0.01,
    ) -> None:
        self._pipeline = pipeline
        self._events = events
        self._metrics = metrics
        self._provider = provider
        self._coalesce_tokens = coalesce_tokens
        self._coalesce_delay_s = coalesce_delay_s
        self._lingering: set[asyncio.Future[Any]] = set()  # cancelled runs still unwinding

    async def execute(
        self, job: ChatJob, attempt: int = 1, timeout_s: float | None = None
    ) -> ChatOutcome | None:
        """Run ``job``; publish progress, tokens and one terminal event.

        Args:
            job: The job.
            attempt: Its delivery attempt (for the ``recovered`` stream metric).
            timeout_s: A job still running after this ends with an ``error`` event.

        Returns:
            The outcome, or ``None`` when the job ended with an ``error`` event or its stream
            had already ended (an earlier delivery or the API wrote its terminal event).

        Raises:
            asyncio.CancelledError: without a terminal event: the caller requeues the job
                (shutdown) or fails it.
            UnavailableError: the event store could not be reached, not even for an ``error``
                event: the caller runs the job again once it is back.
        """
        job.status = JobStatus.RUNNING
        measured = JobMetrics(self._metrics, self._provider, attempt, job.requested_at)
        out = TokenCoalescer(
            self._events,
            job.job_id,
            max_tokens=self._coalesce_tokens,
            max_delay_s=self._coalesce_delay_s,
            tracker=measured.stream,
        )
        try:
            run = self._run(job, measured, out)
            return await _within(run, timeout_s, job.job_id, self._lingering)
        except StreamEndedError:  # whoever ended the stream recorded it
            log.warning("job_stream_already_ended", extra={"job_id": job.job_id})
            measured.stream.finish(ABANDONED)
            return None
        except _Overdue:
            log.warning("job_timeout", extra={"job_id": job.job_id})
            message = f"no answer within {timeout_s:g} s"
            await self._end_failed(job, out, "timeout", message, measured)
            return None
        except (asyncio.CancelledError, UnavailableError):
            # Cancelled: requeued or failed by the caller. Store unreachable: no error event can
            # be written either; the caller runs the job again once the store is back. Either
            # way the stream is not over: its metrics are those of the run that finishes it.
            out.discard()
            measured.stream.finish(ABANDONED)
            raise
        except Exception as exc:  # the job must end with a terminal event whatever happened
            log.exception("chat_job_failed", extra={"job_id": job.job_id})
            message = f"{type(exc).__name__}: the job failed"
            await self._end_failed(job, out, "internal_error", message, measured)
            return None
        finally:
            # Releases the active-streams gauge whatever ended the job (a no-op once finished).
            measured.stream.finish("error")

    async def _run(self, job: ChatJob, measured: JobMetrics, out: TokenCoalescer) -> ChatOutcome:
        timings: dict[str, NodeTiming] = {}
        async for update in self._pipeline.run(job):
            if isinstance(update, TokenDelta):
                measured.token()
                await out.token(update.node, update.text, update.count)
            elif isinstance(update, NodeProgress):
                measured.progress(update)
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
                measured.answering(update)  # a timeout from here on may still see it land
                await out.event(EventType.DONE, outcome.to_dict())
                job.status = JobStatus.DONE
                measured.done(update)
                return outcome
        raise RuntimeError("pipeline ended without a result")

    async def settle(self, timeout_s: float) -> int:
        """Wait at most ``timeout_s`` for cancelled runs still unwinding in the background.

        Shutdown calls it before it closes the clients those runs may still use (a checkpoint
        save waiting on a stalled database). Returns how many are still unwinding.
        """
        if self._lingering:
            await asyncio.wait(set(self._lingering), timeout=timeout_s)
        if self._lingering:
            log.warning("job_runs_still_unwinding", extra={"runs": len(self._lingering)})
        return len(self._lingering)

    async def fail(self, job_id: str, trace_id: str, code: str, message: str) -> None:
        """End a job given up without running (invalid, or out of deliveries) with ``error``.

        Recorded as one failed request of an unclassified intent, with no stream metrics: it
        streamed nothing, and its earlier deliveries' time says nothing about any intent.

        Raises:
            StreamEndedError: the stream already ended (nothing is recorded then).
        """
        await self._publish_error(job_id, trace_id, code, message)
        JobMetrics.gave_up(self._metrics, self._provider, code)

    async def _end_failed(
        self, job: ChatJob, out: TokenCoalescer, code: str, message: str, measured: JobMetrics
    ) -> None:
        """Write the tokens still waiting, then the ``error`` event, unless the stream ended.

        A timeout can fire while the ``done`` write is on its way: the write still happens,
        and the stream then refuses the ``error`` (one terminal event per stream). Its stream
        is then not recorded as failed here: it may well have ended with this run's ``done``.
        """
        try:
            await out.flush()
        except StreamEndedError:
            _ended_elsewhere(job, measured)
            return
        except Exception as exc:  # the error event matters more than the tokens before it
            log.warning(
                "token_flush_failed", extra={"job_id": job.job_id, "error": type(exc).__name__}
            )
        try:
            await self._fail(job, code, message, measured)
        except StreamEndedError:
            _ended_elsewhere(job, measured)
        except UnavailableError:  # the caller runs the job again: this run did not end it
            measured.stream.finish(ABANDONED)
            raise

    async def _fail(self, job: ChatJob, code: str, message: str, measured: JobMetrics) -> None:
        await self._publish_error(job.job_id, job.trace_id, code, message)
        measured.failed(code)
        job.status = JobStatus.ERROR
        job.error_code = code

    async def _publish_error(self, job_id: str, trace_id: str, code: str, message: str) -> None:
        await asyncio.shield(
            self._events.publish(
                job_id,
                EventType.ERROR,
                {"code": code, "message": message, "trace_id": trace_id},
            )
        )


def _ended_elsewhere(job: ChatJob, measured: JobMetrics) -> None:
    """The stream refused this run's ``error``: it has ended. If the run's ``done`` was being
    written when the timeout cancelled it, that write landed: the job answered, and counts so."""
    log.warning("job_stream_already_ended", extra={"job_id": job.job_id})
    if measured.answered is not None:
        job.status = JobStatus.DONE
        measured.done(measured.answered)
    else:
        measured.stream.finish(ABANDONED)


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
