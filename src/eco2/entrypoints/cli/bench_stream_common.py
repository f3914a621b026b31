"""Shared pieces of ``eco2 bench stream``: the token markers, percentiles, a process's CPU time.

Every benchmark token's text names its index and when it was produced, so an SSE client can check
order and measure latency without any change to the event protocol. A marker looks like
``"1f.3a9c2;"``: the index and the microseconds since the run's epoch, both in hex, which keeps a
token about as long as a real one (a Korean syllable or two in UTF-8).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

_END = ";"


def encode_token(index: int, offset_us: int) -> str:
    """Return the text of token ``index`` produced ``offset_us`` microseconds after the epoch."""
    return f"{index:x}.{offset_us:x}{_END}"


def decode_tokens(text: str) -> list[tuple[int, int]]:
    """Return ``(index, offset_us)`` for every marker in ``text``, in order.

    Raises:
        ValueError: when ``text`` is not a sequence of whole markers.
    """
    if not text:
        return []
    if not text.endswith(_END):
        raise ValueError("text ends inside a token")
    markers = []
    for part in text[:-1].split(_END):
        index, _, offset = part.partition(".")
        markers.append((int(index, 16), int(offset, 16)))
    return markers


def summarise(values: Sequence[float]) -> dict[str, float]:
    """Return ``count``, ``p50``, ``p95``, ``p99`` and ``max`` of ``values`` (nearest rank).

    An empty sequence gives zeros and a count of 0.
    """
    if not values:
        return {"count": 0, "p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
    ordered = sorted(values)
    n = len(ordered)

    def rank(q: float) -> float:
        return ordered[min(n - 1, max(0, math.ceil(n * q / 100) - 1))]

    return {
        "count": n,
        "p50": round(rank(50), 3),
        "p95": round(rank(95), 3),
        "p99": round(rank(99), 3),
        "max": round(ordered[-1], 3),
    }


def process_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) used so far by process ``pid``; ``None`` without ``/proc``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    # After "pid (comm) ", utime and stime are the 12th and 13th fields (man 5 proc).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_s() -> float | None:
    """CPU seconds all processes on this machine have used since boot; ``None`` without /proc.

    The difference over a run, set against the benchmark's own processes, shows how much other
    load shared the CPUs while it measured.
    """
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    # cpu user nice system idle iowait irq softirq steal ...: busy is all but idle and iowait.
    ticks = [int(v) for v in first[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
