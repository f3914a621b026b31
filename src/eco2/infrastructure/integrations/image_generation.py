"""Image generation through the OpenAI Images API (``OPENAI_API_KEY``, ``ECO2_IMAGE_BASE_URL``).

``POST {base}/images/generations`` with ``{"model", "prompt", "size", "n": 1}`` (and
``"response_format": "url"`` for DALL·E models); the response's ``data[0].url`` becomes a
``GeneratedImage``. An answer with only ``b64_json`` (``gpt-image-1`` always answers so) is refused
as ``inline_image``: megabytes of base64 would travel through the answer model's prompt, the
job's events and the session's checkpoint, and overflow a hosted model's context (failing the
whole job), so the default model is ``dall-e-3``, which answers with a hosted link.

Errors follow the providers' typed hierarchy; OpenAI's error body is
``{"error": {"message", "type", "param", "code"}}``. A prompt refused by the safety system
(``content_policy_violation`` or ``moderation_blocked``, HTTP 400) is a
:class:`ContentPolicyError`, so the answer can say so instead of reporting an outage. Without a
key the factory wires ``NotConfiguredImageGeneration`` instead of this adapter.
"""

from __future__ import annotations

import httpx
from pydantic import SecretStr

from eco2.domain.errors import NotConfiguredError
from eco2.domain.knowledge import GeneratedImage
from eco2.infrastructure.integrations.http.client import HttpProvider, json_body
from eco2.infrastructure.integrations.http.errors import (
    MalformedResponseError,
    ProviderError,
    ProviderErrorCode,
)
from eco2.infrastructure.integrations.json_post import error_message, post_json

CONTENT_POLICY_CODES = frozenset({"content_policy_violation", "moderation_blocked"})


class ContentPolicyError(ProviderErrorCode):
    """OpenAI refused the prompt (its safety system); retrying the same prompt will not help."""


def _error_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


class OpenAIImageGeneration:
    """``ImageGenerationPort`` over the OpenAI Images API.

    Args:
        provider: The ``openai_images`` provider (client on the OpenAI base URL, with a read
            timeout long enough for generation, retries, breaker).
        api_key: ``OPENAI_API_KEY``; sent as a bearer token, never logged. ``None`` or empty
            raises ``NotConfiguredError``.
        model: Image model answering with a URL, e.g. ``dall-e-3``.
        size: Image size, e.g. ``1024x1024``.
    """

    def __init__(
        self,
        provider: HttpProvider,
        api_key: SecretStr | None,
        *,
        model: str = "dall-e-3",
        size: str = "1024x1024",
    ) -> None:
        if api_key is None or not api_key.get_secret_value():
            raise NotConfiguredError("image generation is not configured: OPENAI_API_KEY unset")
        self._provider = provider
        self._key = api_key
        provider.scrub.add(api_key.get_secret_value())
        self.model = model
        self.size = size

    async def generate(self, prompt: str) -> GeneratedImage:
        """Return an image made from ``prompt``, as the provider's link to it.

        Raises:
            ContentPolicyError: The prompt was refused by OpenAI's safety system.
            ProviderError: Auth, rate limit, outage, other 4xx, or a malformed response.
        """
        body = {"model": self.model, "prompt": prompt, "size": self.size, "n": 1}
        if self.model.startswith("dall-e"):  # the only models that can answer with a link
            body["response_format"] = "url"
        headers = {"Authorization": f"Bearer {self._key.get_secret_value()}"}

        def parse(response: httpx.Response) -> GeneratedImage:
            return self._parse(response, prompt)

        return await post_json(
            self._provider,
            "/images/generations",
            body,
            parse,
            headers=headers,
            classify=self._classify,
            idempotent=False,  # each generation is billed: a lost answer is not asked again
        )

    def _classify(self, response: httpx.Response) -> ProviderError | None:
        if response.status_code == 400 and _error_code(response) in CONTENT_POLICY_CODES:
            message = self._provider.scrub(error_message(response))
            return ContentPolicyError(self._provider.name, "content_policy", message)
        return None

    def _parse(self, response: httpx.Response, prompt: str) -> GeneratedImage:
        name = self._provider.name
        data = json_body(response, name)["data"]
        if not isinstance(data, list) or not data:
            raise MalformedResponseError(name, "`data` holds no image")
        first = data[0]
        if url := first.get("url"):
            return GeneratedImage(url=str(url), prompt=prompt)
        if first.get("b64_json"):
            raise ProviderErrorCode(
                name,
                "inline_image",
                f"{self.model} answered with an inline image, which cannot travel in a chat "
                "answer; set ECO2_IMAGE_MODEL to a model answering with a link (dall-e-3)",
            )
        raise MalformedResponseError(name, "the image has neither `url` nor `b64_json`")
