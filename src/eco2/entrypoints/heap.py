"""Keeps the cyclic garbage collector off a process's long-lived startup heap (worker and API).

A worker builds its models, analyser, graph and clients once, then runs jobs that allocate many
short-lived objects (LangGraph tasks, message chunks, events). Each full collection walks every
object that is still alive, so the startup heap, which never becomes garbage, was walked again
and again: measured in-process at 50 concurrent paced jobs, collection took about 3.3 ms of a
job's ~20 ms of CPU, and about 1.1 ms once the startup heap is frozen. Freezing keeps those
objects alive for the life of the process, which they are anyway.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> int:
    """Collect what is already garbage, then exempt every live object from later collections.

    Returns:
        How many objects are now frozen.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
