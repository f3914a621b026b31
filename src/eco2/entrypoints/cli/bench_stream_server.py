"""The API process of ``eco2 bench stream``: the distributed app under uvicorn, on its own CPU.

Run as ``python -m eco2.entrypoints.cli.bench_stream_server PORT PARENT_PID`` with the bench's
``ECO2_*`` environment (its own Redis prefix and queue name). It exits by itself when the
benchmark process that started it goes away, so a killed benchmark leaves no server behind.
"""

from __future__ import annotations

import os
import sys
import threading
import time


def _exit_with_parent(parent_pid: int) -> None:
    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(3)  # orphaned: the benchmark is gone and cannot stop us

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: list[str]) -> None:
    """Serve the distributed API on ``127.0.0.1:argv[1]`` until told to stop.

    Args:
        argv: ``[program, port, parent_pid]``.
    """
    from eco2.bootstrap.serving import build_api
    from eco2.entrypoints.api.server import run_api
    from eco2.entrypoints.logs import configure_logging

    port, parent_pid = int(argv[1]), int(argv[2])
    _exit_with_parent(parent_pid)
    configure_logging()
    run_api(build_api(), "127.0.0.1", port, backlog=4096, timeout_graceful_shutdown=3)


if __name__ == "__main__":
    main(sys.argv)
