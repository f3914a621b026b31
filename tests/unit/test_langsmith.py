"""LangSmith: configuration from the environment, per-job run config, the real run tree."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from eco2.bootstrap import Application
from eco2.domain.chat import ChatJob, ChatRequest
from eco2.infrastructure.telemetry.langsmith import (
    LangSmithConfig,
    LangSmithTelemetry,
    NoOpTelemetry,
    build_telemetry,
    sampled,
)
from eco2.infrastructure.telemetry.run_config import job_run_config, merge_tags
from tests.fakes.langsmith_server import LangSmithStub, running_langsmith_stub


@pytest.fixture(scope="module")
def stub() -> Iterator[LangSmithStub]:
    with running_langsmith_stub() as server:
        yield server


@pytest.mark.parametrize(
    ("env", "enabled", "project"),
    [
        ({"LANGCHAIN_TRACING_V2": "true", "LANGCHAIN_API_KEY": "k"}, True, "eco2-chat-worker"),
        (
            {"LANGSMITH_TRACING": "true", "LANGSMITH_API_KEY": "k", "LANGSMITH_PROJECT": "p"},
            True,
            "p",
        ),
        ({"LANGCHAIN_TRACING_V2": "true"}, False, "eco2-chat-worker"),
        ({"LANGCHAIN_API_KEY": "k"}, False, "eco2-chat-worker"),
        ({}, False, "eco2-chat-worker"),
    ],
)
def test_config_from_either_spelling(env: dict[str, str], enabled: bool, project: str) -> None:
    config = LangSmithConfig.from_env(env)
    assert config.enabled is enabled and config.project == project


def test_tracing_without_a_key_warns_and_traces_nothing(caplog: pytest.LogCaptureFixture) -> None:
    telemetry = build_telemetry({"LANGCHAIN_TRACING_V2": "true"}, "test")
    assert isinstance(telemetry, NoOpTelemetry) and not telemetry.enabled
    assert "langsmith_tracing_disabled" in caplog.text


def test_run_config_merges_tags_without_duplicates_or_mutation() -> None:
    defaults = ["team:eco2", "env:test"]
    request_tags = ("team:eco2", "ab:variant-b")
    job = ChatJob(ChatRequest("hi", session_id="s-9", user_id="u-1", tags=request_tags))
    config = job_run_config(job, "test", defaults)
    assert config["run_name"] == f"chat:{job.job_id}"
    assert config["tags"] == ["env:test", "team:eco2", "ab:variant-b"]
    assert defaults == ["team:eco2", "env:test"] and request_tags == ("team:eco2", "ab:variant-b")
    assert config["metadata"] == {
        "job_id": job.job_id,
        "user_id": "u-1",
        "session_id": "s-9",
        "trace_id": job.trace_id,
    }
    assert config["configurable"] == {"thread_id": "s-9"}
    assert merge_tags(["a", "b"], ["b", "c"]) == ["a", "b", "c"]


def test_the_otel_switch_does_not_send_runs_with_their_text_as_spans(
    stub: LangSmithStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SDK reads LANGSMITH_OTEL_ENABLED as "hybrid": every run, prompt and answer included,
    # would go to the process's OpenTelemetry provider too. The project's own spans cover OTEL.
    monkeypatch.setenv("LANGSMITH_OTEL_ENABLED", "true")
    telemetry = LangSmithTelemetry(LangSmithConfig(True, "k", "p", stub.url), "test")
    client = telemetry._client
    assert client.tracing_mode == "langsmith" and client.otel_exporter is None


async def test_a_real_job_posts_its_run_tree(
    stub: LangSmithStub, make_app: Callable[..., Application]
) -> None:
    config = LangSmithConfig(True, "ls-test-key", "eco2-test", stub.url)
    telemetry = LangSmithTelemetry(config, "test", default_tags=["team:eco2"])
    app = make_app(telemetry=telemetry)
    job = ChatJob(ChatRequest("소파 버리는 방법이랑 내일 날씨", session_id="s-1", user_id="u-7"))
    await app.process_chat.execute(job)
    telemetry.flush()
    deadline = time.monotonic() + 10
    while not [
        r for r in stub.roots() if r.get("name") == f"chat:{job.job_id}" and r.get("end_time")
    ]:
        assert time.monotonic() < deadline, "the root run never arrived"
        await asyncio.sleep(0.05)
    [root] = [r for r in stub.roots() if r.get("name") == f"chat:{job.job_id}"]
    tags = set(root["tags"])
    assert {"env:test", "team:eco2", "intent:bulk_waste", "intent:weather"} <= tags
    assert {"subagent:bulk_waste", "subagent:weather"} <= tags
    metadata = root["extra"]["metadata"]
    assert metadata["job_id"] == job.job_id and metadata["user_id"] == "u-7"
    assert metadata["session_id"] == "s-1" and metadata["intent"] == "bulk_waste"
    children = {r["name"] for r in stub.children(str(root["id"]))}
    assert {"intent", "router", "bulk_waste", "weather", "aggregator", "answer"} <= children
    # One run per sub-agent: its node's run, tagged with the sub-agent (no nested run).
    [weather] = [r for r in stub.runs.values() if r.get("name") == "weather"]
    assert "subagent:weather" in weather["tags"] and "subagent:intent" not in tags
    assert not [r for r in stub.runs.values() if str(r.get("name")).startswith("subagent:")]
    assert all("ls-test-key" not in str(r) for r in stub.runs.values())
    assert stub.headers[0]["x-api-key"] == "ls-test-key"


async def test_each_run_arrives_complete_once_the_job_ends(
    stub: LangSmithStub, make_app: Callable[..., Application]
) -> None:
    config = LangSmithConfig(True, "ls-test-key", "eco2-test", stub.url)
    telemetry = LangSmithTelemetry(config, "test")
    app = make_app(telemetry=telemetry)
    job = ChatJob(ChatRequest("페트병 어떻게 버려?", user_id="u-9"))
    await app.process_chat.execute(job)
    assert telemetry.pending_runs() == 0  # nothing kept once the job's root run has ended
    telemetry.flush()
    deadline = time.monotonic() + 10
    while not [r for r in stub.roots() if r.get("name") == f"chat:{job.job_id}"]:
        assert time.monotonic() < deadline, "the root run never arrived"
        await asyncio.sleep(0.05)
    [root] = [r for r in stub.roots() if r.get("name") == f"chat:{job.job_id}"]
    runs = [r for r in stub.runs.values() if r.get("trace_id") == root["id"]]
    assert all(r.get("end_time") and r.get("dotted_order") for r in runs)
    assert all(str(r["dotted_order"]).startswith(str(root["dotted_order"])) for r in runs)
    [answer] = [r for r in runs if r["name"] == "answer"]
    [model] = [r for r in runs if r["run_type"] == "llm"]
    assert model["parent_run_id"] == answer["id"]
    assert [e["name"] for e in model["events"]] == ["start", "new_token", "end"]
    assert model["outputs"]["generations"][0][0]["text"] == answer["outputs"]["answer"]
    assert answer["inputs"]["message"] == "페트병 어떻게 버려?"
    # The edge's run names where it sends the state instead of carrying the state once more.
    [edge] = [r for r in runs if r["name"] == "fan_out"]
    sends = edge["outputs"]["output"]
    assert {"send": "waste_rag"} in sends and all(set(s) == {"send"} for s in sends)


def test_sampling_rate_from_the_environment_and_decided_per_job() -> None:
    env = {"LANGSMITH_TRACING": "true", "LANGSMITH_API_KEY": "k"}
    assert LangSmithConfig.from_env(env).sampling_rate == 1.0
    rate = LangSmithConfig.from_env(env | {"LANGSMITH_TRACING_SAMPLING_RATE": "0.25"})
    assert rate.sampling_rate == 0.25
    bad = LangSmithConfig.from_env(env | {"LANGSMITH_TRACING_SAMPLING_RATE": "7"})
    assert bad.sampling_rate == 1.0
    ids = [f"job-{i}" for i in range(2000)]
    assert all(sampled(i, 1.0) for i in ids) and not any(sampled(i, 0.0) for i in ids)
    share = sum(sampled(i, 0.25) for i in ids) / len(ids)
    assert 0.2 < share < 0.3
    assert [sampled(i, 0.25) for i in ids] == [sampled(i, 0.25) for i in ids]  # stable per job


async def test_an_unsampled_job_is_not_traced_even_with_the_langchain_switch_on(
    stub: LangSmithStub, make_app: Callable[..., Application], monkeypatch: pytest.MonkeyPatch
) -> None:
    # With LANGCHAIN_TRACING_V2 set, LangChain would add a tracer of its own to an untraced run.
    monkeypatch.setenv("LANGCHAIN_TRACING_V2", "true")
    monkeypatch.setenv("LANGCHAIN_API_KEY", "ls-test-key")
    monkeypatch.setenv("LANGCHAIN_ENDPOINT", stub.url)
    monkeypatch.setenv("LANGSMITH_TRACING_SAMPLING_RATE", "1")
    config = LangSmithConfig(True, "ls-test-key", "eco2-test", stub.url, sampling_rate=0.0)
    telemetry = LangSmithTelemetry(config, "test")
    app = make_app(telemetry=telemetry)
    job = ChatJob(ChatRequest("안녕하세요", user_id="u-8"))
    assert "callbacks" not in telemetry.run_config(job)
    await app.process_chat.execute(job)
    telemetry.flush()
    await asyncio.sleep(0.3)  # what a stray tracer would have posted has arrived by now
    assert not [r for r in stub.runs.values() if job.job_id in str(r.get("name"))]


def test_flush_at_shutdown_gives_up_after_its_timeout(
    stub: LangSmithStub, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    telemetry = LangSmithTelemetry(LangSmithConfig(True, "ls-test-key", "eco2-test", stub.url), "t")
    release = threading.Event()

    class HungClient:  # an endpoint that never answers: the SDK's flush does not return
        def flush(self) -> None:
            release.wait(30)

    monkeypatch.setattr(telemetry, "_client", HungClient())
    telemetry.flush_timeout_s = 0.2
    started = time.monotonic()
    try:
        telemetry.flush()
        assert time.monotonic() - started < 5
        assert "langsmith_flush_timeout" in caplog.text
    finally:
        release.set()
