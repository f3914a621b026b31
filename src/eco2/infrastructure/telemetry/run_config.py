"""Per-job run configuration shared by the LangSmith and NoOp adapters."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from eco2.domain.chat import ChatJob


def merge_tags(*groups: Iterable[str]) -> list[str]:
    """Merge tag lists in order without duplicates; the inputs are never mutated."""
    return list(dict.fromkeys(tag for group in groups for tag in group))


def job_run_config(job: ChatJob, environment: str, default_tags: Sequence[str]) -> dict[str, Any]:
    """Run name ``chat:{job_id}``, ``env:*`` + default + per-request tags, metadata, thread id."""
    request = job.request
    config: dict[str, Any] = {
        "run_name": f"chat:{job.job_id}",
        "run_id": uuid.uuid4(),
        "tags": merge_tags([f"env:{environment}"], default_tags, request.tags),
        "metadata": {
            "job_id": job.job_id,
            "user_id": request.user_id,
            "session_id": request.session_id,
            "trace_id": job.trace_id,
        },
        "configurable": {"thread_id": request.session_id or job.job_id},
    }
    return config


def intent_tags(intents: Sequence[str], subagents: Sequence[str]) -> list[str]:
    """``intent:*`` for each intent and ``subagent:*`` for each sub-agent run."""
    return [f"intent:{i}" for i in intents] + [f"subagent:{s}" for s in subagents]
