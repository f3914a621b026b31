"""Terminal rendering: the per-node timing table / waterfall."""

from __future__ import annotations

from collections.abc import Sequence

from eco2.domain.events import NodeTiming

BAR_WIDTH = 32


def node_table(nodes: Sequence[NodeTiming]) -> str:
    """Return a table of nodes with a waterfall bar each; the slowest node is marked.

    Parallel branches overlap on the time axis, so the bar shows where the time went.
    """
    if not nodes:
        return "(no node timings)"
    end = max(n.start_ms + n.duration_ms for n in nodes) or 1.0
    slowest = max(nodes, key=lambda n: n.duration_ms)
    width = max(len(n.name) for n in nodes)
    lines = [f"{'node':<{width}}  {'status':<14} {'start ms':>9} {'dur ms':>9}  timeline"]
    for n in nodes:
        left = int(n.start_ms / end * BAR_WIDTH)
        length = max(1, round(n.duration_ms / end * BAR_WIDTH))
        bar = " " * left + "█" * min(length, BAR_WIDTH - left)
        mark = "  ← slowest" if n is slowest else ""
        lines.append(
            f"{n.name:<{width}}  {n.status:<14} {n.start_ms:>9.1f} {n.duration_ms:>9.1f}  "
            f"|{bar:<{BAR_WIDTH}}|{mark}"
        )
    lines.append(f"total {end:.1f} ms")
    return "\n".join(lines)
