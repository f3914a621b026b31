"""The SSE clients of ``eco2 bench stream``, in their own process so they never share the
producers' CPU time: ``python -m eco2.entrypoints.cli.bench_stream_clients``.

Reads one JSON line from stdin (``base_urls``, ``jobs``, ``clients_per_job``, ``tokens``,
``accumulated``, ``epoch_ns``, ``timeout_s``, optionally ``connect_batch``), opens
``clients_per_job`` connections per job to ``GET /api/v1/chat/{job_id}/events`` in waves of
``connect_batch``, writes ``{"ready": …}`` on stdout once every client has its first event, then
``{"result": …}`` when every client has its terminal event. A stream that ends early is resumed
with ``Last-Event-ID``, as a browser would.

The clients speak HTTP/1.1 themselves on asyncio protocols (``bench_stream_wire``) rather than
through httpx: a thousand clients share this process and the machine's two CPUs with the API
being measured, and a general-purpose client's per-chunk cost would land in the figures as
delivery latency; for the same reason they keep what arrives, stamped, and parse it when the
connection ends. Each client checks that it received every token exactly once and in order and
that ``done.answer`` is the text it assembled; a client that did not is a *mismatch*. Exits when
stdin closes early (the benchmark is gone).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from eco2.entrypoints import aio
from eco2.entrypoints.cli.bench_stream_common import decode_tokens, summarise
from eco2.entrypoints.cli.bench_stream_wire import SseError, follow
from eco2.entrypoints.cli.loadtest_sse import frame_fields

_MAX_ATTEMPTS = 4  # connection failures per client before it gives up
_CONNECT_BATCH = 50  # clients connecting at once; the next wave waits for their first event


@dataclass
class _Tally:
    delivery_ms: list[float] = field(default_factory=list)
    entry_ms: list[float] = field(default_factory=list)
    entries: int = 0
    tokens: int = 0
    errors: int = 0
    reconnects: int = 0
    mismatches: int = 0
    complete: int = 0
    last_done_ns: int = 0
    samples: list[str] = field(default_factory=list)

    def error(self, message: str) -> None:
        self.errors += 1
        if len(self.samples) < 5 and message not in self.samples:
            self.samples.append(message)


class _Client:
    """One SSE connection to one job, resumed after early ends, verifying what it receives."""

    def __init__(
        self,
        address: tuple[str, int],
        job_id: str,
        spec: dict[str, Any],
        tally: _Tally,
        on_first: Callable[[], None],
    ) -> None:
        self._address, self._job_id, self._tally, self._on_first = address, job_id, tally, on_first
        self._accumulated: bool = spec["accumulated"]
        self._tokens: int = spec["tokens"]
        self._epoch_ms: float = spec["epoch_ns"] / 1e6
        self._first = False
        self._last_id: str | None = None
        self._parts: list[str] = []  # the deltas, or the latest accumulated text
        self._next = 0
        self._broken = False
        self.finished = False

    async def run(self) -> None:
        failures = 0
        try:
            while not self.finished:
                try:
                    await self._follow()
                except (SseError, OSError, ValueError, KeyError) as exc:
                    self._tally.error(f"{type(exc).__name__}: {exc}"[:200])
                    failures += 1
                    if failures >= _MAX_ATTEMPTS:
                        return
                    await asyncio.sleep(0.2)
                else:
                    if not self.finished:
                        self._tally.reconnects += 1
        finally:
            if not self._first:  # count it as settled so "ready" still comes
                self._first = True
                self._on_first()

    async def _follow(self) -> None:
        path = f"/api/v1/chat/{self._job_id}/events"
        await follow(
            self._address,
            path,
            self._last_id,
            self._on_block,
            self._on_event,
            lambda: self.finished,
        )

    def _on_event(self) -> None:
        if not self._first:
            self._first = True
            self._on_first()

    def _on_block(self, block: bytes, arrived_ns: int) -> None:
        parsed = _parse_block(block, markers=not self._accumulated)
        if parsed is None:
            return
        event, entry_id, payload, markers = parsed
        now_ms = arrived_ns / 1e6
        self._on_event()
        self._last_id = entry_id or self._last_id
        if event == "token":
            self._on_token(payload["text"], markers, now_ms)
            self._tally.entry_ms.append(now_ms - int(entry_id.partition("-")[0]))
        elif event in ("done", "error"):
            self.finished = True
            answer = payload.get("answer") if event == "done" else None
            if self._accumulated:
                text = self._parts[-1] if self._parts else ""
            else:
                text = "".join(self._parts)
            if answer == text and self._next == self._tokens and not self._broken:
                self._tally.complete += 1
            else:
                self._tally.mismatches += 1
            self._tally.last_done_ns = max(self._tally.last_done_ns, arrived_ns)

    def _on_token(self, text: str, markers: list[tuple[int, int]], now_ms: float) -> None:
        if self._accumulated:
            before = self._parts[-1] if self._parts else ""
            if not text.startswith(before):
                self._broken = True
            new, self._parts = text[len(before) :], [text]
            markers = decode_tokens(new)
        else:
            self._parts.append(text)
        self._tally.entries += 1
        for index, offset_us in markers:
            if index != self._next:
                self._broken = True
            self._next = index + 1
            self._tally.tokens += 1
            self._tally.delivery_ms.append(now_ms - self._epoch_ms - offset_us / 1000)


_Parsed = tuple[str, str, dict[str, Any], list[tuple[int, int]]]
# Every client of a job receives the same bytes: decode each distinct block once.
_PARSED: dict[bytes, _Parsed | None] = {}
_PARSED_MAX = 8192


def _parse_block(block: bytes, *, markers: bool) -> _Parsed | None:
    """Event type, id, payload and (for a token, if asked) its markers; ``None`` for a comment.

    One process runs one design, so ``markers`` is the same on every call of a run.
    """
    parsed = _PARSED.get(block)
    if parsed is None and block not in _PARSED:
        fields = frame_fields(block)
        if "event" in fields:
            payload = json.loads(fields.get("data", "{}"))
            text = payload.get("text") if fields["event"] == "token" else None
            found = decode_tokens(text) if markers and isinstance(text, str) else []
            parsed = (fields["event"], fields.get("id", ""), payload, found)
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[block] = parsed
    return parsed


def _emit(kind: str, value: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps({kind: value}) + "\n")
    sys.stdout.flush()


async def run_clients(spec: dict[str, Any]) -> dict[str, Any]:
    """Run every client of ``spec`` to its terminal event; return the tally (also emits ready).

    Args:
        spec: The JSON object read from stdin (see the module docstring).

    Returns:
        Latency summaries (``delivery_ms``, ``entry_to_client_ms``), counts and CPU seconds.
    """
    tally = _Tally()
    clients_per_job: int = spec["clients_per_job"]
    total = len(spec["jobs"]) * clients_per_job
    batch: int = spec.get("connect_batch", _CONNECT_BATCH)
    settled, wave_end = 0, 0
    wave_done = asyncio.Event()

    def on_first() -> None:
        nonlocal settled
        settled += 1
        if settled >= wave_end:
            wave_done.set()

    urls = [urlsplit(url) for url in spec["base_urls"]]
    addresses = [(url.hostname or "127.0.0.1", url.port or 80) for url in urls]
    pairs = [(job_id, k) for job_id in spec["jobs"] for k in range(clients_per_job)]
    # Clients spread over the API processes round-robin, as a balancer would spread them.
    clients = [
        _Client(addresses[n % len(addresses)], job_id, spec, tally, on_first)
        for n, (job_id, _) in enumerate(pairs)
    ]
    tasks: list[asyncio.Task[None]] = []
    try:
        async with asyncio.timeout(spec["timeout_s"]):
            # Connect in waves, as an audience arrives, not as one burst of set-ups.
            for start in range(0, total, batch):
                wave_end = min(total, start + batch)
                wave_done.clear()
                tasks += [asyncio.create_task(c.run()) for c in clients[start:wave_end]]
                if settled < wave_end:
                    await wave_done.wait()
            _emit("ready", {"clients": total, "errors": tally.errors})
            cpu_start = time.process_time()
            await asyncio.gather(*tasks)
    except TimeoutError:
        tally.error("timeout: clients did not finish in time")
        cpu_start = time.process_time()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    incomplete = sum(1 for client in clients if not client.finished)
    tally.mismatches += incomplete  # a client that never got its terminal event missed tokens
    return {
        "clients": total,
        "complete": tally.complete,
        "mismatches": tally.mismatches,
        "incomplete": incomplete,
        "errors": tally.errors,
        "error_samples": tally.samples,
        "reconnects": tally.reconnects,
        "entries": tally.entries,
        "tokens": tally.tokens,
        "delivery_ms": summarise(tally.delivery_ms),
        "entry_to_client_ms": summarise(tally.entry_ms),
        "last_done_ns": tally.last_done_ns,
        "cpu_s": round(time.process_time() - cpu_start, 3),
    }


def _exit_when_stdin_closes(done: threading.Event) -> None:
    def watch() -> None:
        sys.stdin.read()
        if not done.is_set():
            os._exit(3)  # the benchmark is gone

    threading.Thread(target=watch, name="stdin-watch", daemon=True).start()


def main() -> None:
    """Read the spec from stdin, run the clients, print the result line."""
    spec = json.loads(sys.stdin.readline())
    done = threading.Event()
    _exit_when_stdin_closes(done)
    result = aio.run(run_clients(spec))  # uvloop: the clients share the CPUs with the API
    done.set()
    _emit("result", result)


if __name__ == "__main__":
    main()
