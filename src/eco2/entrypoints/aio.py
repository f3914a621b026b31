"""Running a command's event loop: uvloop when installed (``uvicorn[standard]`` brings it).

The worker, the load generator and the benchmarks spend most of their CPU in the event loop's
own machinery (task switches, timers, socket callbacks), where uvloop costs about half of what
the standard loop does; uvicorn already picks it for the API on its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on a new uvloop loop, or an asyncio one without uvloop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)
