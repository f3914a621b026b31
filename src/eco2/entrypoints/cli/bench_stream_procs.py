"""The child processes of ``eco2 bench stream``: the API server and the SSE clients.

Both run the same Python as the benchmark (``python -m …``), so their CPU time is separate from
the producers'. Their stderr goes to a temporary file whose last line explains a failure. Both
exit by themselves if the benchmark dies, and :meth:`stop` always ends them (terminate, then
kill) — also on Ctrl-C, where it runs from a ``finally``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import sys
import tempfile
from typing import IO, Any

import httpx

from eco2.entrypoints.cli.bench_stream_common import process_cpu_s

_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception)\b")


class BenchError(Exception):
    """The benchmark cannot run or go on; the message is one line for the user."""


class _Child:
    def __init__(self, process: asyncio.subprocess.Process, log: IO[bytes]) -> None:
        self.process, self._log = process, log

    @property
    def pid(self) -> int:
        return self.process.pid

    def last_log_line(self) -> str:
        lines, _ = self.log_lines()
        return lines[-1][:300] if lines else "(no output)"

    def log_lines(self, since: int = 0) -> tuple[list[str], int]:
        """Non-empty stderr lines from byte offset ``since``, and the offset reached."""
        self._log.flush()
        self._log.seek(since)
        data = self._log.read()
        lines = [line for line in data.decode(errors="replace").splitlines() if line.strip()]
        return lines, since + len(data)

    async def stop(self, grace_s: float = 8.0) -> None:
        """End the process (terminate, then kill after ``grace_s``) and close its pipes."""
        process = self.process
        if process.stdin is not None and not process.stdin.is_closing():
            process.stdin.close()
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                await asyncio.wait_for(process.wait(), grace_s)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                await process.stdin.wait_closed()
        self._log.close()


async def _spawn(
    module: str, args: list[str], env: dict[str, str], *, pipes: bool
) -> tuple[asyncio.subprocess.Process, IO[bytes]]:
    # Outlives this function: the child writes to it until ``stop`` closes it.
    log = tempfile.TemporaryFile(prefix="eco2-bench-")  # noqa: SIM115
    pipe = asyncio.subprocess.PIPE if pipes else asyncio.subprocess.DEVNULL
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", module, *args, stdin=pipe, stdout=pipe, stderr=log, env=env
        )
    except BaseException:
        log.close()
        raise
    return process, log


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ApiProcess(_Child):
    """The distributed API (``create_app(build_api())``) under uvicorn in its own process."""

    base_url: str = ""

    @classmethod
    async def start(cls, env: dict[str, str], timeout_s: float = 30.0) -> ApiProcess:
        """Start the API with ``env`` added to this process's environment; wait until ready.

        Raises:
            BenchError: when it exits or is not ready (``/readyz``) within ``timeout_s``.
        """
        port = _free_port()
        args = [str(port), str(os.getpid())]
        process, log = await _spawn(
            "eco2.entrypoints.cli.bench_stream_server", args, {**os.environ, **env}, pipes=False
        )
        api = cls(process, log)
        api.base_url = f"http://127.0.0.1:{port}"
        try:
            await api._wait_ready(timeout_s)
        except BaseException:
            await api.stop()
            raise
        return api

    async def _wait_ready(self, timeout_s: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2) as http:
            while loop.time() < deadline:
                if self.process.returncode is not None:
                    raise BenchError(f"the API process exited: {self.last_log_line()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise BenchError(f"the API was not ready within {timeout_s:.0f} s: {self.last_log_line()}")

    def problems(self, since: int = 0) -> tuple[int, list[str], int]:
        """Warnings and errors the API logged after byte offset ``since``.

        Returns:
            How many, up to five distinct samples (event names or exception lines), and the
            offset to pass next time.
        """
        lines, offset = self.log_lines(since)
        count = 0
        samples: list[str] = []
        for line in lines:
            sample = None
            try:
                entry = json.loads(line)
            except ValueError:
                entry = None
            if isinstance(entry, dict):
                if entry.get("level") in ("warning", "error", "critical"):
                    count, sample = count + 1, str(entry.get("event"))
            elif line.startswith(("ERROR:", "WARNING:", "CRITICAL:")):
                count += 1  # uvicorn's own plain-text records, e.g. an exception in the app
            elif _EXCEPTION_LINE.match(line):
                sample = line
            if sample and sample not in samples and len(samples) < 5:
                samples.append(sample[:200])
        return count, samples, offset


class ClientsProcess(_Child):
    """The SSE clients (``bench_stream_clients``) in their own process."""

    @classmethod
    async def start(cls, spec: dict[str, Any]) -> ClientsProcess:
        """Start the clients and send them ``spec``."""
        process, log = await _spawn(
            "eco2.entrypoints.cli.bench_stream_clients", [], dict(os.environ), pipes=True
        )
        clients = cls(process, log)
        assert clients.process.stdin is not None
        clients.process.stdin.write((json.dumps(spec) + "\n").encode())
        await clients.process.stdin.drain()
        return clients

    async def receive(self, kind: str, timeout_s: float) -> dict[str, Any]:
        """Wait for the ``{kind: …}`` line and return its value.

        Raises:
            BenchError: when the process ends or stays silent for ``timeout_s``.
        """
        assert self.process.stdout is not None
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), timeout_s)
        except TimeoutError:
            raise BenchError(f"the SSE clients sent no {kind!r} within {timeout_s:.0f} s") from None
        if not line:
            await self.process.wait()
            raise BenchError(f"the SSE client process exited: {self.last_log_line()}")
        message = json.loads(line)
        if kind not in message:
            raise BenchError(f"the SSE clients sent {line[:100]!r}, expected {kind!r}")
        return dict(message[kind])


class ApiGroup:
    """One or more API processes serving the same streams, as replicas behind a balancer would.

    The SSE clients spread over them round-robin; CPU and logged problems are summed.
    """

    def __init__(self, apis: list[ApiProcess]) -> None:
        self.apis = apis

    @classmethod
    async def start(cls, env: dict[str, str], count: int) -> ApiGroup:
        """Start ``count`` API processes (all stopped again if one fails to start)."""
        apis: list[ApiProcess] = []
        try:
            for _ in range(count):
                apis.append(await ApiProcess.start(env))
        except BaseException:
            for api in apis:
                await api.stop()
            raise
        return cls(apis)

    @property
    def base_urls(self) -> list[str]:
        """Where each process listens."""
        return [api.base_url for api in self.apis]

    def cpu_s(self) -> float | None:
        """CPU seconds all the processes used so far (``None`` without ``/proc``)."""
        values = [process_cpu_s(api.pid) for api in self.apis]
        return None if any(v is None for v in values) else sum(v or 0.0 for v in values)

    def offsets(self) -> list[int]:
        """Where each process's log ends now (pass to :meth:`problems`)."""
        return [api.problems()[2] for api in self.apis]

    def problems(self, offsets: list[int]) -> tuple[int, list[str]]:
        """Warnings and errors logged by any process since ``offsets``, with samples."""
        count, samples = 0, []
        for api, offset in zip(self.apis, offsets, strict=True):
            n, more, _ = api.problems(offset)
            count += n
            samples += [m for m in more if m not in samples]
        return count, samples[:5]

    async def stop(self) -> None:
        """Stop every process."""
        for api in self.apis:
            await api.stop()
