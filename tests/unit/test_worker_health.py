"""The worker's own port: liveness from the event loop's heartbeat, readiness, metrics."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Counter

from eco2.entrypoints.worker.health import WorkerHealth


def status(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


async def get(port: int, path: str) -> tuple[int, bytes]:
    return await asyncio.to_thread(status, port, path)


async def test_health_readiness_and_metrics() -> None:
    registry = CollectorRegistry()
    Counter("eco2_test_things", "Things.", registry=registry).inc()
    health = WorkerHealth(registry)
    port = health.start(0, "127.0.0.1")
    try:
        assert (await get(port, "/healthz"))[0] == 200
        assert (await get(port, "/readyz"))[0] == 503  # not consuming yet
        health.ready = True
        assert (await get(port, "/readyz"))[0] == 200
        code, body = await get(port, "/metrics")
        assert code == 200 and b"eco2_test_things_total 1.0" in body
        assert (await get(port, "/nothing"))[0] == 404
    finally:
        await health.close()


async def test_a_worker_whose_queue_stopped_consuming_is_not_ready() -> None:
    consuming = True
    health = WorkerHealth(None, consuming=lambda: consuming)
    port = health.start(0, "127.0.0.1")
    health.ready = True
    try:
        assert (await get(port, "/readyz"))[0] == 200
        consuming = False  # the broker connection dropped; it is reconnecting
        assert (await get(port, "/readyz"))[0] == 503
        assert (await get(port, "/healthz"))[0] == 200  # alive all the same
    finally:
        await health.close()


async def test_a_wedged_loop_is_not_alive_and_not_ready() -> None:
    health = WorkerHealth(None, stale_s=0.5)
    port = health.start(0, "127.0.0.1")
    health.ready = True
    try:
        await asyncio.sleep(0)  # the heart beats once
        assert (await get(port, "/healthz"))[0] == 200
        # Block the loop on purpose (a wedged worker): no beat; the server's thread answers.
        time.sleep(0.8)  # noqa: ASYNC251
        assert status(port, "/healthz")[0] == 503
        assert status(port, "/readyz")[0] == 503
        assert status(port, "/metrics")[0] == 404  # metrics off: probes still work
    finally:
        await health.close()


async def test_a_taken_port_is_an_os_error() -> None:
    first = WorkerHealth(None)
    port = first.start(0, "127.0.0.1")
    try:
        with pytest.raises(OSError):
            WorkerHealth(None).start(port, "127.0.0.1")
    finally:
        await first.close()
