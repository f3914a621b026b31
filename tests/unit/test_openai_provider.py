"""The OpenAI-compatible provider against a local fake server: the real client code path."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from eco2.bootstrap import Application, ConfigurationError, build_classifier
from eco2.domain.chat import ChatJob, ChatRequest
from eco2.domain.events import EventType
from eco2.domain.intents import Intent
from eco2.infrastructure.llm.openai_provider import OpenAIIntentClassifier, build_chat_model
from eco2.infrastructure.prometheus.metrics import PrometheusMetrics
from eco2.pipeline.nodes.vision import item_name
from eco2.settings import LLMSettings, Settings
from tests.fakes.openai_server import ANSWER, FakeOpenAI, running_fake_openai


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[FakeOpenAI]:
    with running_fake_openai() as server:
        yield server


def openai_settings(server: FakeOpenAI) -> Settings:
    return Settings(
        llm=LLMSettings(
            ECO2_LLM_PROVIDER="openai",
            OPENAI_API_KEY="sk-test-not-a-real-key",
            OPENAI_BASE_URL=server.base_url,
            ECO2_LLM_MODEL="fake-model-1",
        )
    )


async def test_structured_intent_classification(fake_openai: FakeOpenAI) -> None:
    classifier = build_classifier(openai_settings(fake_openai))
    assert isinstance(classifier, OpenAIIntentClassifier)
    prediction = await classifier.classify("소파 버리는 방법이랑 내일 날씨")
    assert prediction.intents == (Intent.BULK_WASTE, Intent.WEATHER)
    assert prediction.usage == {"input_tokens": 42, "output_tokens": 1}  # the server's usage
    request = fake_openai.requests[-1]
    assert request["model"] == "fake-model-1"
    assert request["tools"][0]["function"]["name"] == "IntentOutput"
    assert fake_openai.headers[-1]["authorization"] == "Bearer sk-test-not-a-real-key"


async def test_streamed_answer_with_usage_through_the_graph(
    fake_openai: FakeOpenAI, make_app: Callable[..., Application]
) -> None:
    settings = openai_settings(fake_openai)
    llm = settings.llm
    assert llm.api_key is not None
    model = build_chat_model(
        model=llm.model, api_key=llm.api_key, base_url=llm.base_url, timeout_s=5, max_retries=0
    )
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = make_app(
        settings,
        classifier=OpenAIIntentClassifier(model),
        answer_model=model,
        general_model=model,
        tracer=provider.get_tracer("test"),
    )
    job = ChatJob(ChatRequest("페트병 어떻게 버려?"))
    outcome = await app.process_chat.execute(job)
    # Both model calls, the classifier's included, are GenAI spans under their nodes, and
    # their tokens are counted per node.
    spans = exporter.get_finished_spans()
    nodes = {s.name: s.context.span_id for s in spans if s.name.startswith("node ")}
    calls = {
        s.parent.span_id: dict(s.attributes or {})
        for s in spans
        if s.name == "chat fake-model-1" and s.parent is not None
    }
    intent_call = calls[nodes["node intent"]]
    assert intent_call["gen_ai.provider.name"] == "openai"
    assert intent_call["gen_ai.usage.input_tokens"] == 42
    assert nodes["node answer"] in calls
    assert isinstance(app.metrics, PrometheusMetrics)
    for node in ("intent", "answer"):
        labels = {"node": node, "provider": "openai", "type": "input"}
        assert app.metrics.registry.get_sample_value("chat_llm_tokens_total", labels) == 42
    assert outcome is not None
    assert outcome.intents == ["waste"]
    assert outcome.answer == ANSWER
    events = await app.events.read(job.job_id, None, count=10_000)
    tokens = [e for e in events if e.type is EventType.TOKEN]
    assert sum(t.payload["count"] for t in tokens) > 3  # model chunks, coalesced on write
    assert "".join(t.payload["text"] for t in tokens) == ANSWER
    assert outcome.usage["input_tokens"] == 42 and outcome.usage["output_tokens"] > 0
    answer_request = fake_openai.requests[-1]
    assert answer_request["stream"] is True
    assert answer_request["stream_options"] == {"include_usage": True}
    system = answer_request["messages"][0]["content"]
    assert "<eco2_context>" in system and "pet_bottle_clear" in system


async def test_a_pictured_item_is_named_by_the_vision_model_and_routes_the_question(
    fake_openai: FakeOpenAI, make_app: Callable[..., Application]
) -> None:
    """ "이거 어떻게 버려?" with a photo: the vision node names a PET bottle, so it is answered."""
    llm = openai_settings(fake_openai).llm
    assert llm.api_key is not None
    # Its own timeout: langchain-openai caches one HTTP client per (base URL, timeout), and the
    # earlier test's is bound to that test's closed event loop.
    vision = build_chat_model(
        model="fake-vision", api_key=llm.api_key, base_url=llm.base_url, timeout_s=7, max_retries=0
    )
    app = make_app(vision_model=vision)  # offline classifier and answer model
    picture = "https://images.example/pet.jpg"
    job = ChatJob(ChatRequest("이거 어떻게 버려?", image_url=picture))
    outcome = await app.process_chat.execute(job)
    [request] = [r for r in fake_openai.requests if r["model"] == "fake-vision"]
    assert request["messages"][-1]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": picture},
    }
    assert outcome is not None and outcome.intents[0] == "waste"
    assert "투명 페트병" in outcome.answer and "사진 속 물건: 페트병" in outcome.answer
    assert [n.name for n in outcome.nodes][:3] == ["intent", "vision", "router"]
    # The item is fed to intent and routing: a pictured sofa is a bulk-waste question.
    fake_openai.vision_answer = "**소파**"
    try:
        sofa_job = ChatJob(ChatRequest("이거 어떻게 버려?", image_url=picture))
        sofa = await app.process_chat.execute(sofa_job)
    finally:
        fake_openai.vision_answer = "페트병"
    assert sofa is not None and sofa.intents[0] == "bulk_waste"
    assert "소파" in sofa.answer and "대형폐기물" in sofa.answer


@pytest.mark.parametrize(
    ("reply", "item"),
    [
        ("페트병", "페트병"),
        ("**깨진 유리컵**\n", "깨진 유리컵"),
        ("없음", None),
        ("없습니다.", None),
        ("No household item is visible.", None),
        ("사진 속 물건은 플라스틱 페트병입니다.", None),  # a sentence, not a name
        ("", None),
    ],
)
def test_only_a_short_item_name_counts_as_what_the_picture_shows(
    reply: str, item: str | None
) -> None:
    assert item_name(reply) == item


def test_openai_without_key_is_a_clear_configuration_error() -> None:
    settings = Settings(llm=LLMSettings(ECO2_LLM_PROVIDER="openai"))
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        build_classifier(settings)
