"""Bounded label sets: any value outside its set is recorded as ``other``."""

from __future__ import annotations

from eco2.domain.intents import Intent, Subagent
from eco2.domain.subagents import SubagentStatus

OTHER = "other"

INTENTS = frozenset(i.value for i in Intent)
SUBAGENTS = frozenset(s.value for s in Subagent) | {"rag_fallback"}
NODES = SUBAGENTS | {"intent", "vision", "router", "aggregator", "answer", "summarize"}
PROVIDERS = frozenset({"offline", "openai"})
NODE_STATUSES = frozenset(s.value for s in SubagentStatus) | {"error"}
REQUEST_STATUSES = frozenset({"success", "error"})
STREAM_STATUSES = frozenset({"success", "error", "recovered"})
RECOVERY_TYPES = frozenset({"catch_up", "snapshot"})
RECOVERY_STATUSES = frozenset({"success", "error"})
RAG_QUALITIES = frozenset({"good", "partial", "poor"})
RAG_FALLBACKS = frozenset({"none", "web_search", "general_model", "failed"})
ERROR_TYPES = frozenset(
    {"timeout", "internal_error", "invalid_job", "delivery_limit", "enqueue_failed", "cancelled"}
    | {SubagentStatus.FAILED.value}  # a sub-agent's (its "timeout" is the same word)
)
TOKEN_TYPES = frozenset({"input", "output"})
PROVIDERS_EXTERNAL = frozenset(
    {"kma", "kakao", "mois", "keco", "tavily", "duckduckgo", "openai_images", "character_grpc"}
)
CIRCUIT_STATES = {"closed": 0, "half_open": 1, "open": 2}
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"})


def bounded(value: str, allowed: frozenset[str]) -> str:
    """Return ``value`` when it is in ``allowed``, else ``other``."""
    return value if value in allowed else OTHER
