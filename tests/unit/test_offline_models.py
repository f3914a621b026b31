"""The offline answer and general models: grounded, streamed, with usage."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessageChunk, HumanMessage, SystemMessage

from eco2.application.answer_context import render_context_block
from eco2.infrastructure.llm import offline_models
from eco2.infrastructure.llm.offline_models import OfflineAnswerModel, OfflineGeneralModel

ITEM = {
    "id": "can_tuna",
    "name": "참치캔",
    "category": "metal",
    "category_name": "캔·고철류",
    "steps": ["기름을 따라 내고 헹궈요.", "캔류로 배출해요."],
    "mistakes": ["기름째 버리기"],
    "recyclable": True,
}


def prompt(contexts: list[dict[str, object]]) -> list[object]:
    return [SystemMessage("rules\n" + render_context_block(["waste"], contexts)), HumanMessage("q")]


async def test_streams_tokens_that_add_up_with_usage() -> None:
    model = OfflineAnswerModel()
    contexts = [
        {"name": "waste_rag", "status": "ok", "data": {"quality": "good", "items": [ITEM]}},
        {"name": "weather", "status": "not_configured", "data": {}, "error": "x"},
    ]
    chunks = [c async for c in model.astream(prompt(contexts))]
    assert len(chunks) > 5
    full = chunks[0]
    for chunk in chunks[1:]:
        full = full + chunk
    assert isinstance(full, AIMessageChunk)
    text = str(full.text)
    assert text == (await model.ainvoke(prompt(contexts))).text
    assert full.usage_metadata and full.usage_metadata["output_tokens"] == len(chunks) - 1
    assert "참치캔" in text and "can_tuna" in text
    assert "날씨(weather)" in text and "설정되지 않아" in text


async def test_says_only_what_the_context_holds() -> None:
    model = OfflineAnswerModel()
    text = (await model.ainvoke(prompt([]))).text
    assert "찾지 못했어요" in text
    grounded = str(
        (
            await model.ainvoke(
                prompt([{"name": "waste_rag", "status": "ok", "data": {"items": [ITEM]}}])
            )
        ).text
    )
    numbered = [line for line in grounded.splitlines() if line[:2] in ("1.", "2.")]
    assert [line[3:] for line in numbered] == ITEM["steps"]


async def test_paced_stream_honours_latency_profile() -> None:
    model = OfflineAnswerModel(time_to_first_token_s=0.0, tokens_per_s=1000.0)
    assert [c async for c in model.astream(prompt([]))]


def test_pace_is_a_schedule_from_the_call_start() -> None:
    # Token i is due at ttft + i / tokens_per_s, so a late wake-up never delays later tokens.
    model = OfflineAnswerModel(time_to_first_token_s=0.4, tokens_per_s=80.0)
    assert [model._due(i) for i in (0, 1, 80)] == [0.4, 0.4 + 1 / 80, 1.4]
    assert OfflineAnswerModel()._due(5) == 0.0


async def test_overdue_tokens_are_not_delayed(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(offline_models.asyncio, "sleep", record)
    model = OfflineAnswerModel(time_to_first_token_s=0.0, tokens_per_s=1e-3)
    # The first token is due at once; the recorded (skipped) sleeps never compound.
    chunks = [c async for c in model.astream(prompt([]))]
    assert len(chunks) > 2
    assert all(w > 0 for w in waits)
    assert len(waits) == len(chunks) - 2  # neither the first token nor the usage chunk waits


async def test_general_model_small_talk_and_rules() -> None:
    model = OfflineGeneralModel(general_rules=["비우기"])
    assert "이코" in str((await model.ainvoke([HumanMessage("안녕하세요")])).text)
    assert "천만에요" in str((await model.ainvoke([HumanMessage("고마워")])).text)
    assert "비우기" in str((await model.ainvoke([HumanMessage("우주의 크기는?")])).text)
