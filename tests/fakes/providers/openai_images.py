"""Payloads shaped like the OpenAI Images API's documented responses and errors."""

from __future__ import annotations

from typing import Any

# The smallest valid PNG (1×1, transparent), base64-encoded as ``b64_json`` carries it.
PNG_1X1_B64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


def url_image(url: str, revised_prompt: str = "") -> dict[str, Any]:
    """A DALL·E style answer: ``data[0].url``."""
    return {"created": 1732492800, "data": [{"url": url, "revised_prompt": revised_prompt}]}


def b64_image(b64: str = PNG_1X1_B64) -> dict[str, Any]:
    """A ``gpt-image-1`` answer: ``data[0].b64_json`` plus usage."""
    return {
        "created": 1732492800,
        "data": [{"b64_json": b64}],
        "usage": {
            "total_tokens": 100,
            "input_tokens": 50,
            "output_tokens": 50,
            "input_tokens_details": {"text_tokens": 10, "image_tokens": 40},
        },
    }


def openai_error(message: str, type_: str, code: str | None = None) -> dict[str, Any]:
    """An error body: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


CONTENT_POLICY = openai_error(
    "Your request was rejected as a result of our safety system.",
    "image_generation_user_error",
    "content_policy_violation",
)
MODERATION_BLOCKED = openai_error(
    "Your request was rejected by the safety system.",
    "image_generation_user_error",
    "moderation_blocked",
)
RATE_LIMITED = openai_error("Rate limit reached for images per minute.", "requests", None)
