"""``eco2 bench stream`` on the real Redis and RabbitMQ: behaviour, never wall-clock figures."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import pytest
from typer.testing import CliRunner

from eco2.entrypoints.cli.bench_stream_common import decode_tokens, encode_token, summarise
from eco2.entrypoints.cli.main import app
from tests.integration.services import require_service

pytestmark = pytest.mark.integration

REDIS_URL = os.environ.get("ECO2_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AMQP_URL = os.environ.get("ECO2_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
ENV = {"ECO2_REDIS_URL": REDIS_URL, "ECO2_AMQP_URL": AMQP_URL}


async def _redis_error() -> str | None:
    from redis.asyncio import Redis

    redis = Redis.from_url(REDIS_URL)
    try:
        await asyncio.wait_for(redis.ping(), 3)
        return None
    except Exception as exc:
        return f"{REDIS_URL}: {exc!r}"
    finally:
        await redis.aclose()


async def _rabbit_error() -> str | None:
    import aio_pika

    try:
        connection = await asyncio.wait_for(aio_pika.connect(AMQP_URL), 5)
        await connection.close()
        return None
    except Exception as exc:
        return f"RabbitMQ: {exc!r}"


def _require(redis: bool = True, rabbit: bool = True) -> None:
    if redis:
        error = asyncio.run(_redis_error())
        require_service("Redis", error is None, error or "")
    if rabbit:
        error = asyncio.run(_rabbit_error())
        require_service("RabbitMQ", error is None, error or "")


async def _leftovers(prefix: str, queue: str) -> tuple[list[bytes], bool]:
    import aio_pika
    from redis.asyncio import Redis

    redis = Redis.from_url(REDIS_URL)
    keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
    await redis.aclose()
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        try:
            await channel.declare_queue(queue, passive=True)
            queue_left = True
        except aio_pika.exceptions.ChannelClosed:
            queue_left = False
    return keys, queue_left


def _stream(*args: str, env: dict[str, str] = ENV) -> Any:
    return CliRunner().invoke(app, ["bench", "stream", *args], env=env)


def test_tiny_run_delivers_every_token_once_in_order_and_reports_figures() -> None:
    _require()
    args = ["--jobs", "2", "--tokens", "20", "--rate", "200", "--clients-per-job", "2"]
    result = _stream(*args, "--design", "both", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    (scenario,) = report["scenarios"]
    for design in ("coalesced", "per-token"):
        figures = scenario[design]
        assert figures["mismatches"] == 0
        assert figures["errors"] == 0
        assert figures["complete"] == figures["clients"] == 4
        assert figures["tokens"] == 40
        assert figures["deliveries"] == 80  # every token reached each of the 2 clients per job
        assert figures["emission_ms"]["count"] == 40
        assert figures["delivery_ms"]["count"] == 80
        for key in ("tokens_per_s", "worker_cpu_us_per_token", "tokens_per_worker_cpu_s"):
            assert figures[key] > 0, key
        for key in ("emission_ms", "delivery_ms"):
            summary = figures[key]
            assert 0 < summary["p50"] <= summary["p95"] <= summary["p99"] <= summary["max"]
    assert scenario["model-only"]["worker_cpu_us_per_token"] > 0
    assert scenario["per-token"]["entries"] == 40  # one entry per token
    assert scenario["coalesced"]["entries"] <= 40
    expected = (
        scenario["coalesced"]["tokens_per_worker_cpu_s"]
        / scenario["per-token"]["tokens_per_worker_cpu_s"]
    )
    assert scenario["ratio"] == pytest.approx(expected, rel=0.01)
    # 200 tokens/s cannot fill 16-token entries in 10 ms slots, so even the ratio is not judged.
    assert [t["status"] for t in scenario["targets"]] == ["n/a", "n/a", "n/a", "n/a"]
    keys, queue_left = asyncio.run(_leftovers(report["redis_prefix"], report["queue"]))
    assert keys == [] and not queue_left


def test_text_output_prints_figures_next_to_targets() -> None:
    _require()
    result = _stream("--jobs", "1", "--tokens", "5", "--rate", "500", "--design", "coalesced")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "worker CPU µs per token" in out and "delivery ms p50 / p95 / p99" in out
    assert "emission p99 ≤ 25 ms at 64 streams × 100 tokens/s" in out
    assert "per-token" not in out.split("targets:")[0]


def test_a_fanout_run_prints_a_bare_socket_write_beside_the_api_cost() -> None:
    _require()
    args = ["--jobs", "1", "--tokens", "5", "--rate", "500", "--clients-per-job", "100"]
    result = _stream(*args, "--design", "coalesced", "--json")
    assert result.exit_code == 0, result.output
    (scenario,) = json.loads(result.stdout)["scenarios"]
    assert scenario["write_floor_connections"] == 100 and scenario["write_floor_us"] > 0
    assert scenario["coalesced"]["complete"] == 100


def test_unreachable_redis_is_one_line_and_non_zero() -> None:
    result = _stream(
        "--jobs", "1", "--tokens", "2", env={**ENV, "ECO2_REDIS_URL": "redis://127.0.0.1:1/0"}
    )
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "eco2: error: cannot reach Redis at redis://127.0.0.1:1/0"
    )


def test_unreachable_rabbitmq_is_one_line_without_the_password() -> None:
    _require(rabbit=False)
    env = {**ENV, "ECO2_AMQP_URL": "amqp://guest:s3cret@127.0.0.1:1/"}
    result = _stream("--jobs", "1", "--tokens", "2", env=env)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("eco2: error: cannot reach RabbitMQ at amqp://")
    assert "s3cret" not in result.stderr


def test_a_run_longer_than_the_bound_is_refused() -> None:
    result = _stream("--tokens", "100000", "--rate", "1")
    assert result.exit_code == 2
    assert "at most 300 s" in result.stderr


def test_token_markers_round_trip_and_percentiles_use_nearest_rank() -> None:
    text = "".join(encode_token(i, 1_000_000 + i) for i in range(300))
    assert decode_tokens(text) == [(i, 1_000_000 + i) for i in range(300)]
    assert decode_tokens("") == []
    with pytest.raises(ValueError):
        decode_tokens(text[:-1])
    summary = summarise([float(v) for v in range(1, 101)])
    assert (summary["p50"], summary["p95"], summary["p99"], summary["max"]) == (50, 95, 99, 100)
    assert summarise([])["count"] == 0


def test_clients_spread_over_several_api_processes() -> None:
    _require()
    args = ["--jobs", "1", "--tokens", "10", "--rate", "200", "--clients-per-job", "4"]
    result = _stream(*args, "--design", "coalesced", "--api-processes", "2", "--json")
    assert result.exit_code == 0, result.output
    (scenario,) = json.loads(result.stdout)["scenarios"]
    assert scenario["config"]["api_processes"] == 2
    figures = scenario["coalesced"]
    assert figures["complete"] == figures["clients"] == 4 and figures["mismatches"] == 0
    assert figures["deliveries"] == 40
