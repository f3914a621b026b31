"""For scale beside the fan-out figures: what one bare socket write costs on this machine.

Each delivered entry costs the API at least one write to one client's socket, and on loopback
the kernel does the receiving side's work inside that write. This measures it with nothing of
the project around it: this process accepts ``connections`` loopback connections whose other
ends a separate process holds (``python -m eco2.entrypoints.cli.bench_stream_floor PORT N``,
reading and discarding) and writes the same bytes to each, round after round, the way the
fan-out writes one entry to every client. The figure is this process's CPU per write. The
reader is idle between rounds, so each write wakes it: on some days that makes a bare write
dearer than the API's own writes to its busy clients' process, so it is a scale, not a floor.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from typing import cast

_ROUNDS = 100
_ROUND_GAP_S = 0.01  # one entry per 10 ms, as the coalescer writes at 100 tokens/s
_FRAME = b"x" * 160  # about one token entry's SSE frame


async def write_floor_us(connections: int) -> float:
    """CPU µs per write of one frame to each of ``connections`` loopback sockets.

    Raises:
        OSError: when the connections cannot be set up.
    """
    transports: list[asyncio.Transport] = []
    everyone = asyncio.Event()

    class _Accepted(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            transports.append(cast(asyncio.Transport, transport))  # uvloop's is no subclass
            if len(transports) >= connections:
                everyone.set()

    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Accepted, "127.0.0.1", 0, backlog=connections)
    port = server.sockets[0].getsockname()[1]
    reader = await asyncio.create_subprocess_exec(
        sys.executable, "-m", __name__, str(port), str(connections), stdin=asyncio.subprocess.PIPE
    )
    try:
        await asyncio.wait_for(everyone.wait(), 60)
        cpu = 0.0
        for _ in range(_ROUNDS):
            started = time.process_time()
            for transport in transports:
                transport.write(_FRAME)
            cpu += time.process_time() - started
            await asyncio.sleep(_ROUND_GAP_S)
        return round(cpu / (_ROUNDS * connections) * 1e6, 2)
    finally:
        for transport in transports:
            transport.close()
        server.close()
        if reader.stdin is not None:
            reader.stdin.close()  # the reader exits when its stdin closes
        try:
            await asyncio.wait_for(reader.wait(), 10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                reader.kill()
            await reader.wait()


async def _hold(port: int, connections: int) -> None:
    """Open ``connections`` to ``port``, read and drop what arrives, until stdin closes."""
    loop = asyncio.get_running_loop()
    held = [
        await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        for _ in range(connections)
    ]
    await loop.run_in_executor(None, sys.stdin.read)
    for transport, _ in held:
        transport.close()


if __name__ == "__main__":
    from eco2.entrypoints import aio

    aio.run(_hold(int(sys.argv[1]), int(sys.argv[2])))
