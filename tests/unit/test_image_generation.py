"""Image generation: the OpenAI Images adapter against a local server answering the documented
shapes (URL and base64 images, content-policy 400s, 429, 401, 500, malformed, slow)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from eco2.domain.errors import NotConfiguredError
from eco2.domain.knowledge import GeneratedImage
from eco2.infrastructure.integrations.config import IntegrationSettings
from eco2.infrastructure.integrations.factory import build_provider
from eco2.infrastructure.integrations.factory_other import build_other_integrations
from eco2.infrastructure.integrations.http.client import HttpProvider
from eco2.infrastructure.integrations.http.errors import (
    MalformedResponseError,
    OutcomeUnknownError,
    ProviderAuthError,
    ProviderErrorCode,
    ProviderRateLimitedError,
    ProviderUnavailableError,
)
from eco2.infrastructure.integrations.image_generation import (
    ContentPolicyError,
    OpenAIImageGeneration,
)
from eco2.infrastructure.integrations.not_configured import NotConfiguredImageGeneration
from tests.fakes.providers.openai_images import (
    CONTENT_POLICY,
    MODERATION_BLOCKED,
    PNG_1X1_B64,
    RATE_LIMITED,
    b64_image,
    openai_error,
    url_image,
)
from tests.fakes.providers.scripted_server import ScriptedJsonServer
from tests.fakes.server import serving

KEY = "sk-test-images-0123456789"
PROMPT = "분리배출을 도와주는 귀여운 페트병 캐릭터"


@pytest.fixture
def images_server() -> Iterator[tuple[ScriptedJsonServer, str]]:
    fake = ScriptedJsonServer("/v1/images/generations")
    with serving(fake.app(), "openai images") as url:
        yield fake, f"{url}/v1"


@pytest.fixture
async def images() -> AsyncIterator[Callable[..., OpenAIImageGeneration]]:
    providers: list[HttpProvider] = []

    def make(base_url: str, read_timeout_s: float = 5.0, **kwargs: Any) -> OpenAIImageGeneration:
        settings = IntegrationSettings(
            ECO2_IMAGE_BASE_URL=base_url,
            ECO2_HTTP_RETRIES=2,
            ECO2_HTTP_BACKOFF_BASE_S=0,
            ECO2_HTTP_READ_TIMEOUT_S=read_timeout_s,
        )
        provider = build_provider("openai_images", base_url, SecretStr(KEY), settings)
        providers.append(provider)
        return OpenAIImageGeneration(provider, SecretStr(KEY), **kwargs)

    yield make
    for provider in providers:
        await provider.aclose()


Server = tuple[ScriptedJsonServer, str]
Make = Callable[..., OpenAIImageGeneration]


async def test_a_url_answer_becomes_the_image_url(images_server: Server, images: Make) -> None:
    fake, base = images_server
    fake.then(url_image("https://images.example.org/img-1.png", "a cute PET bottle"))
    image = await images(base, model="dall-e-3", size="1024x1024").generate(PROMPT)
    assert image == GeneratedImage(url="https://images.example.org/img-1.png", prompt=PROMPT)
    headers, body = fake.requests[0]
    assert headers["authorization"] == f"Bearer {KEY}"
    assert body == {
        "model": "dall-e-3",
        "prompt": PROMPT,
        "size": "1024x1024",
        "n": 1,
        "response_format": "url",
    }


async def test_a_base64_answer_is_refused_not_inlined(images_server: Server, images: Make) -> None:
    # Megabytes of base64 would go through the answer's prompt, the events and the checkpoint.
    fake, base = images_server
    fake.then(b64_image(PNG_1X1_B64))
    with pytest.raises(ProviderErrorCode) as refused:
        await images(base, model="gpt-image-1").generate(PROMPT)
    assert refused.value.code == "inline_image" and "ECO2_IMAGE_MODEL" in str(refused.value)
    assert "response_format" not in fake.requests[0][1]  # gpt-image-1 does not take it


@pytest.mark.parametrize("refusal", [CONTENT_POLICY, MODERATION_BLOCKED])
async def test_a_content_policy_400_is_a_content_policy_error(
    images_server: Server, images: Make, refusal: dict[str, Any]
) -> None:
    fake, base = images_server
    fake.then(refusal, 400)
    with pytest.raises(ContentPolicyError) as caught:
        await images(base).generate(PROMPT)
    assert isinstance(caught.value, ProviderErrorCode)
    assert "safety system" in str(caught.value)
    assert len(fake.requests) == 1


async def test_another_400_is_an_error_code(images_server: Server, images: Make) -> None:
    fake, base = images_server
    fake.then(openai_error("Invalid size '7x7'.", "invalid_request_error"), 400)
    with pytest.raises(ProviderErrorCode) as caught:
        await images(base, size="7x7").generate(PROMPT)
    assert not isinstance(caught.value, ContentPolicyError)
    assert "Invalid size" in str(caught.value)


async def test_429_with_retry_after_is_retried(images_server: Server, images: Make) -> None:
    fake, base = images_server
    fake.then(RATE_LIMITED, 429, **{"Retry-After": "0"})
    fake.then(url_image("https://images.example.org/img-2.png", "x"))
    assert (await images(base).generate(PROMPT)).url == "https://images.example.org/img-2.png"
    assert len(fake.requests) == 2


async def test_persistent_429_is_a_rate_limit_error(images_server: Server, images: Make) -> None:
    fake, base = images_server
    fake.then(RATE_LIMITED, 429, **{"Retry-After": "0"})
    with pytest.raises(ProviderRateLimitedError):
        await images(base).generate(PROMPT)
    assert len(fake.requests) == 3


async def test_401_is_an_auth_error_that_does_not_echo_the_key(
    images_server: Server, images: Make
) -> None:
    fake, base = images_server
    fake.then(openai_error(f"Incorrect API key provided: {KEY}.", "invalid_request_error"), 401)
    with pytest.raises(ProviderAuthError) as caught:
        await images(base).generate(PROMPT)
    assert KEY not in str(caught.value)


async def test_a_400_echoing_the_key_is_scrubbed(images_server: Server, images: Make) -> None:
    fake, base = images_server
    fake.then(openai_error(f"bad request for key {KEY}", "invalid_request_error"), 400)
    with pytest.raises(ProviderErrorCode) as caught:
        await images(base).generate(PROMPT)
    assert KEY not in str(caught.value)


async def test_500_is_unavailable_after_retries(images_server: Server, images: Make) -> None:
    fake, base = images_server
    fake.then(openai_error("The server had an error.", "server_error"), 500)
    with pytest.raises(ProviderUnavailableError):
        await images(base).generate(PROMPT)
    assert len(fake.requests) == 3


@pytest.mark.parametrize(
    "reply",
    [
        b"<html>bad gateway</html>",
        {"created": 1, "data": []},
        {"created": 1, "data": [{"revised_prompt": "no image"}]},
    ],
)
async def test_malformed_answers_are_malformed_responses(
    images_server: Server, images: Make, reply: object
) -> None:
    fake, base = images_server
    fake.then(reply)
    with pytest.raises(MalformedResponseError):
        await images(base).generate(PROMPT)


async def test_slow_past_the_read_timeout_is_unavailable(
    images_server: Server, images: Make
) -> None:
    fake, base = images_server
    fake.then(url_image("https://images.example.org/img-2.png", "x"))
    fake.delay_s = 0.5
    with pytest.raises(OutcomeUnknownError):  # a ProviderUnavailableError
        await images(base, read_timeout_s=0.1).generate(PROMPT)
    # The request was sent: the image may have been made and billed, so it is not sent again.
    await asyncio.sleep(0.6)
    assert len(fake.requests) == 1


async def test_a_missing_key_is_not_configured() -> None:
    settings = IntegrationSettings()
    provider = build_provider("openai_images", "https://api.openai.com/v1", None, settings)
    try:
        with pytest.raises(NotConfiguredError):
            OpenAIImageGeneration(provider, None)
        with pytest.raises(NotConfiguredError):
            OpenAIImageGeneration(provider, SecretStr(""))
    finally:
        await provider.aclose()


async def test_the_factory_wires_openai_only_with_a_key(
    images_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, base = images_server
    fake.then(url_image("https://images.example.org/x.png"))
    for name in ("OPENAI_API_KEY", "ECO2_IMAGE_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    # The chat model's server (a local vLLM, say) is not where images are made.
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    without = build_other_integrations(IntegrationSettings())
    assert isinstance(without["image_generation"], NotConfiguredImageGeneration)
    with pytest.raises(NotConfiguredError):
        await without["image_generation"].generate(PROMPT)  # type: ignore[attr-defined]
    built = build_other_integrations(
        IntegrationSettings(OPENAI_API_KEY=KEY, ECO2_IMAGE_BASE_URL=base)
    )
    generator = built["image_generation"]
    assert isinstance(generator, OpenAIImageGeneration)
    assert (await generator.generate(PROMPT)).url == "https://images.example.org/x.png"
    for each in (without, built):
        aclose = each["aclose"]
        assert callable(aclose)
        await aclose()


def test_the_chat_models_base_url_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    # An in-cluster vLLM URL is fine for the chat model (plain HTTP, no images endpoint); it
    # used to make these settings fail (HTTPS required) and the worker with them.
    monkeypatch.setenv("OPENAI_BASE_URL", "http://vllm.eco2.svc:8000/v1")
    monkeypatch.delenv("ECO2_IMAGE_BASE_URL", raising=False)
    assert IntegrationSettings().image_base_url == "https://api.openai.com/v1"
    with pytest.raises(ValidationError, match="HTTPS is required"):
        IntegrationSettings(ECO2_IMAGE_BASE_URL="http://images.example.org/v1")
    assert IntegrationSettings(ECO2_IMAGE_BASE_URL="http://127.0.0.1:8000/v1/").image_base_url == (
        "http://127.0.0.1:8000/v1"
    )


@pytest.mark.parametrize("subagent_s", [0.5, 1.0, 30.0, 95.0, 240.0])
async def test_the_image_budget_follows_the_image_subagent_timeout(subagent_s: float) -> None:
    # One generation (tens of seconds) fits its provider's budget, and the budget ends before
    # the sub-agent's timeout, so a hung provider is a failure its breaker counts (not a
    # cancellation it does not); the general 4.5 s provider deadline would cut it short.
    settings = IntegrationSettings(OPENAI_API_KEY=KEY)
    built = build_other_integrations(settings, image_timeout_s=subagent_s)
    try:
        [images] = [p for p in built["providers"] if p.name == "openai_images"]  # type: ignore[attr-defined]
        deadline, read = images.retry.deadline_s, images.client.timeout.read
        assert 0 < read <= deadline < subagent_s
        assert deadline >= subagent_s - 2
        if subagent_s >= 30:  # room for a generation: the read timeout is all but connecting
            assert read + settings.http_connect_timeout_s == deadline
    finally:
        aclose = built["aclose"]
        assert callable(aclose)
        await aclose()
