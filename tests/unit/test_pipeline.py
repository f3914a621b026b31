"""The LangGraph pipeline: fan-out, overlap, one aggregation, failure isolation, memory."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata
from langgraph.checkpoint.memory import InMemorySaver

from eco2.bootstrap import Application, build_application
from eco2.domain.chat import ChatJob, ChatRequest
from eco2.domain.events import EventType, StreamEvent
from eco2.infrastructure.memory.checkpointer import RecentSessionsSaver
from eco2.infrastructure.telemetry.langsmith import NoOpTelemetry
from eco2.pipeline.context import PipelineConfig, Ports
from eco2.settings import PipelineSettings, Settings
from tests.fakes.ports import FailingWeather, HangingWeather, SlowBulkWaste, SlowWeather


async def run(app: Application, message: str, session: str | None = None) -> list[StreamEvent]:
    job = ChatJob(ChatRequest(message, session_id=session))
    await app.process_chat.execute(job)
    return await app.events.read(job.job_id, None, count=10_000)


class CountingSaver(InMemorySaver):
    """Counts checkpoints written (each a database round trip with a real saver)."""

    puts = 0

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        self.puts += 1
        return await super().aput(config, checkpoint, metadata, new_versions)


def finished(events: list[StreamEvent]) -> dict[str, dict[str, Any]]:
    return {
        e.payload["node"]: e.payload
        for e in events
        if e.type is EventType.PROGRESS and e.payload["phase"] == "finished"
    }


def count_runs(events: list[StreamEvent], node: str) -> int:
    return sum(
        1
        for e in events
        if e.type is EventType.PROGRESS
        and e.payload["node"] == node
        and e.payload["phase"] == "started"
    )


def done(events: list[StreamEvent]) -> dict[str, Any]:
    terminal = [e for e in events if e.type.terminal]
    assert len(terminal) == 1 and terminal[0] is events[-1]
    assert terminal[0].type is EventType.DONE, terminal[0].payload
    return terminal[0].payload


async def test_pet_question_answers_with_kb_steps(make_app: Callable[..., Application]) -> None:
    events = await run(make_app(), "페트병 어떻게 버려?")
    result = done(events)
    assert result["intents"][0] == "waste"
    assert "투명 페트병" in result["answer"]
    assert "라벨" in result["answer"]
    tokens = "".join(e.payload["text"] for e in events if e.type is EventType.TOKEN)
    assert tokens == result["answer"]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert result["usage"]["output_tokens"] > 0 and result["usage"]["input_tokens"] > 0


async def test_multi_intent_branches_run_concurrently(
    make_app: Callable[..., Application], offline_ports: Any
) -> None:
    weather = SlowWeather(delay_s=0.3)
    bulk = SlowBulkWaste(offline_ports.bulk_waste, delay_s=0.3)
    events = await run(make_app(weather=weather, bulk_waste=bulk), "소파 버리는 방법이랑 내일 날씨")
    result = done(events)
    assert result["intents"][:2] == ["bulk_waste", "weather"]
    nodes = {n["name"]: n for n in result["nodes"]}
    a, b = nodes["bulk_waste"], nodes["weather"]
    # Each branch starts before the other ends: they overlap in time.
    assert a["start_ms"] < b["start_ms"] + b["duration_ms"]
    assert b["start_ms"] < a["start_ms"] + a["duration_ms"]
    assert weather.calls == 1, "weather is planned once though two intents need it"
    assert "소파" in result["answer"] and "비" in result["answer"]


async def test_aggregator_runs_once_when_branches_differ_in_length(
    make_app: Callable[..., Application],
) -> None:
    # A question the knowledge base cannot answer takes waste_rag → rag_fallback (two steps)
    # while weather is one step; the aggregator must still run exactly once, after both.
    events = await run(make_app(weather=SlowWeather()), "우주선 폐기물은 어떻게 분리배출해?")
    result = done(events)
    assert "waste" in result["intents"]
    assert count_runs(events, "rag_fallback") == 1
    assert count_runs(events, "aggregator") == 1
    nodes = {n["name"]: n for n in result["nodes"]}
    fallback_end = nodes["rag_fallback"]["start_ms"] + nodes["rag_fallback"]["duration_ms"]
    assert nodes["aggregator"]["start_ms"] >= fallback_end
    rag = finished(events)["rag_fallback"]
    assert rag["detail"]["path"] == "general_model"


async def test_failing_and_hanging_subagents_still_answer(
    make_app: Callable[..., Application],
) -> None:
    settings = Settings(pipeline=PipelineSettings(ECO2_SUBAGENT_TIMEOUT_S=0.2))
    hanging = HangingWeather()
    events = await run(make_app(settings, weather=hanging), "페트병 버리는 법이랑 오늘 날씨")
    result = done(events)
    statuses = {s["name"]: s["status"] for s in result["subagents"]}
    assert statuses == {"waste_rag": "ok", "weather": "timeout"}
    assert hanging.cancelled
    assert "timeout" in result["answer"] and "투명 페트병" in result["answer"]
    assert finished(events)["weather"]["status"] == "timeout"

    events = await run(make_app(weather=FailingWeather()), "페트병 버리는 법이랑 오늘 날씨")
    result = done(events)
    statuses = {s["name"]: s["status"] for s in result["subagents"]}
    assert statuses["weather"] == "failed"
    assert "날씨(weather)" in result["answer"]


async def test_not_configured_subagents_are_stated(make_app: Callable[..., Application]) -> None:
    result = done(await run(make_app(), "강남역 근처 제로웨이스트샵 찾아줘"))
    assert result["subagents"][0] == {
        "name": "location",
        "status": "not_configured",
        "error": result["subagents"][0]["error"],
        "duration_ms": result["subagents"][0]["duration_ms"],
    }
    assert "설정되지 않아" in result["answer"]


async def test_session_is_the_thread_and_keeps_history(
    make_app: Callable[..., Application],
) -> None:
    app = make_app()
    await run(app, "페트병 어떻게 버려?", session="s-1")
    await run(app, "이코 소개해줘", session="s-1")
    state = await app.graph.aget_state({"configurable": {"thread_id": "s-1"}})
    kinds = [m.type for m in state.values["messages"]]
    assert kinds == ["human", "ai", "human", "ai"]
    # Contexts start empty each turn: the second turn only has the character context.
    assert [c["name"] for c in state.values["aggregated"]] == ["character"]


async def test_two_turns_of_one_session_at_once_both_stay_in_its_history(
    make_app: Callable[..., Application],
) -> None:
    """A second message sent before the first is answered: without one turn at a time, both
    turns start from the same checkpoint and the later save drops the other turn."""
    app = make_app()
    first, second = "페트병 어떻게 버려?", "이코 소개해줘"
    await asyncio.gather(run(app, first, session="s-both"), run(app, second, session="s-both"))
    state = await app.graph.aget_state({"configurable": {"thread_id": "s-both"}})
    assert [m.type for m in state.values["messages"]] == ["human", "ai", "human", "ai"]


async def test_thread_is_saved_once_per_turn(offline_ports: Ports) -> None:
    saver = CountingSaver()
    app = build_application(
        Settings(), ports=offline_ports, checkpointer=saver, telemetry=NoOpTelemetry("test")
    )
    await run(app, "소파 버리는 방법이랑 내일 날씨", session="s-2")
    await run(app, "고마워", session="s-2")
    assert saver.puts == 2
    state = await app.graph.aget_state({"configurable": {"thread_id": "s-2"}})
    assert [m.type for m in state.values["messages"]] == ["human", "ai", "human", "ai"]


async def test_the_default_memory_keeps_only_the_most_recently_active_sessions(
    offline_ports: Ports,
) -> None:
    saver = RecentSessionsSaver(max_sessions=2)
    app = build_application(
        Settings(), ports=offline_ports, checkpointer=saver, telemetry=NoOpTelemetry("test")
    )
    for session in ("s-a", "s-b", "s-a", "s-c"):  # s-b is the least recently active
        await run(app, "고마워", session=session)

    async def turns(session: str) -> int:
        state = await app.graph.aget_state({"configurable": {"thread_id": session}})
        return len(state.values.get("messages", []))

    assert [await turns(s) for s in ("s-a", "s-b", "s-c")] == [4, 0, 2]
    assert not [key for key in saver.blobs if key[0] == "s-b"]  # its memory went with it
    await run(app, "고마워", session="s-b")  # a forgotten session starts again
    assert [await turns(s) for s in ("s-a", "s-b", "s-c")] == [0, 2, 2]
    with pytest.raises(ValueError):
        RecentSessionsSaver(max_sessions=0)


async def test_offline_a_picture_is_not_looked_at_and_the_answer_says_so(
    make_app: Callable[..., Application],
) -> None:
    app = make_app()
    job = ChatJob(ChatRequest("페트병 어떻게 버려?", image_url="https://images.example/a.jpg"))
    events = await app.process_chat.execute(job) and await app.events.read(job.job_id, None)
    assert events
    nodes = finished(events)
    assert nodes["vision"]["status"] == "not_configured"
    done = events[-1].payload
    assert "사진 인식(vision): 설정되지 않아" in done["answer"]
    assert "투명 페트병" in done["answer"]  # the text alone still answers
    # Without a picture there is no vision node at all.
    plain = await run(app, "페트병 어떻게 버려?")
    assert "vision" not in finished(plain)


def test_timeouts_per_subagent() -> None:
    config = PipelineConfig(subagent_timeout_s=3, subagent_timeouts_s={"weather": 1.5})
    assert config.timeout_for("weather") == 1.5
    assert config.timeout_for("waste_rag") == 3


async def test_a_job_without_a_session_saves_no_thread(offline_ports: Ports) -> None:
    saver = CountingSaver()
    app = build_application(
        Settings(), ports=offline_ports, checkpointer=saver, telemetry=NoOpTelemetry("test")
    )
    events = await run(app, "페트병 어떻게 버려?")  # no session: nothing to remember
    assert events[-1].type is EventType.DONE
    assert saver.puts == 0
    await run(app, "페트병 어떻게 버려?", session="s-3")
    assert saver.puts == 1


def test_the_prompt_history_skips_unanswered_questions_and_keeps_the_last_ones() -> None:
    from langchain_core.messages import AIMessage, HumanMessage

    from eco2.pipeline.nodes.answer import conversation

    failed, asked_again = HumanMessage("페트병?"), HumanMessage("페트병 어떻게 버려?")
    thread = [HumanMessage("안녕"), AIMessage("안녕하세요"), failed, asked_again]
    assert conversation(thread, history_messages=6) == [*thread[:2], asked_again]
    assert conversation(thread, history_messages=1) == [thread[1], asked_again]


async def test_a_session_thread_keeps_only_what_later_prompts_use(offline_ports: Ports) -> None:
    settings = Settings(pipeline=PipelineSettings(ECO2_HISTORY_MESSAGES=2))
    app = build_application(
        settings, ports=offline_ports, checkpointer=InMemorySaver(), telemetry=NoOpTelemetry("t")
    )
    for text in ("페트병 어떻게 버려?", "고마워", "이코 소개해줘", "소파는?", "안녕"):
        await run(app, text, session="s-5")
    state = await app.graph.aget_state({"configurable": {"thread_id": "s-5"}})
    messages = state.values["messages"]
    assert [m.type for m in messages] == ["human", "ai", "human", "ai"]  # 2 + question + answer
    assert [m.content for m in messages if m.type == "human"] == ["소파는?", "안녕"]


class HangingWebSearch:
    async def search(self, query: str, max_results: int = 5) -> list[Any]:
        await asyncio.Event().wait()
        return []


async def test_a_hanging_web_search_leaves_the_fallback_time_for_the_general_model(
    offline_ports: Ports,
) -> None:
    settings = Settings(pipeline=PipelineSettings(ECO2_SUBAGENT_TIMEOUT_S=0.5))
    app = build_application(
        settings,
        ports=replace(offline_ports, web_search=HangingWebSearch()),
        telemetry=NoOpTelemetry("t"),
    )
    events = await run(app, "우주선 폐기물은 어떻게 분리배출해?")
    fallback = finished(events)["rag_fallback"]
    assert fallback["status"] == "ok" and fallback["detail"]["path"] == "general_model"
    done(events)


def test_the_fallbacks_web_search_outlasts_a_providers_own_deadline() -> None:
    # A hung provider must meet its own deadline (a failure its breaker counts) before the
    # fallback gives up on it (a cancellation, which the breaker does not count).
    from eco2.bootstrap import pipeline_config
    from eco2.infrastructure.integrations.config import IntegrationSettings
    from eco2.pipeline.nodes.waste_rag import WEB_SEARCH_SHARE

    config = pipeline_config(Settings())
    budget = config.timeout_for("rag_fallback") * WEB_SEARCH_SHARE
    assert IntegrationSettings().http_deadline_s < budget < config.timeout_for("rag_fallback")


@pytest.mark.parametrize("history", [6, 1, 0])
async def test_a_job_run_again_after_later_turns_keeps_them_and_answers_its_question(
    offline_ports: Ports, history: int
) -> None:
    """The worker died after j1's turn was saved, the user asked again (j2), then j1 was
    redelivered: j2's turn stays, and j1's prompt ends at its own question."""
    from eco2.pipeline.nodes import answer as answer_node

    settings = Settings(pipeline=PipelineSettings(ECO2_HISTORY_MESSAGES=history))
    saver = InMemorySaver()  # one session store; each app has its own event streams

    def app_on_saver() -> Application:
        return build_application(
            settings, ports=offline_ports, checkpointer=saver, telemetry=NoOpTelemetry("t")
        )

    first, again = app_on_saver(), app_on_saver()
    j1 = ChatJob(ChatRequest("페트병 어떻게 버려?", session_id="s-later"))
    await first.process_chat.execute(j1)
    await first.process_chat.execute(ChatJob(ChatRequest("유리병은?", session_id="s-later")))
    config: Any = {"configurable": {"thread_id": "s-later"}}
    before = [m.id for m in (await first.graph.aget_state(config)).values["messages"]]

    prompts: list[list[Any]] = []
    real = answer_node.build_messages

    def spy(*args: Any) -> Any:
        prompts.append(real(*args))
        return prompts[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(answer_node, "build_messages", spy)
        await again.process_chat.execute(ChatJob(j1.request, j1.job_id, j1.trace_id))
    after = [m.id for m in (await first.graph.aget_state(config)).values["messages"]]
    [prompt] = prompts
    assert prompt[-1].id == f"{j1.job_id}:question"  # not its own earlier answer
    assert f"{j1.job_id}:answer" not in [m.id for m in prompt]
    question = after.index(f"{j1.job_id}:question")  # answered, by one answer
    assert str(after[question + 1]).startswith(f"{j1.job_id}:answer")
    assert len([i for i in after if str(i).startswith(f"{j1.job_id}:answer")]) == 1
    if history >= 4:  # room for both turns: j2's is still there
        later = [i for i in before if not str(i).startswith(j1.job_id)]
        assert [i for i in after if i in later] == later
