"""A local OpenAI-compatible server for tests: chat completions, streamed or not, with usage.

It answers tool calls (structured output) by keyword and text requests with a fixed reply, and
records every request so tests can assert what the real client sent.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.server import serving

ANSWER = "투명 페트병은 내용물을 비우고 라벨을 뗀 뒤 찌그러뜨려 전용 수거함에 넣어요."
KEYWORDS = {"날씨": "weather", "소파": "bulk_waste", "페트": "waste", "이코": "character"}


@dataclass
class FakeOpenAI:
    """Server state: canned behaviour and what was received."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    answer: str = ANSWER
    vision_answer: str = "페트병"  # the reply to a request carrying a picture
    base_url: str = ""

    def intents_for(self, text: str) -> list[str]:
        found = sorted((text.find(word), label) for word, label in KEYWORDS.items() if word in text)
        return [label for _, label in found] or ["general"]


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return ""


def _image_urls(body: dict[str, Any]) -> list[str]:
    """The pictures of a request: ``image_url`` parts of its messages' content, as OpenAI's
    chat completions take them."""
    return [
        part["image_url"]["url"]
        for message in body.get("messages", [])
        if isinstance(message.get("content"), list)
        for part in message["content"]
        if part.get("type") == "image_url"
    ]


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> str:
    body = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


def build_app(state: FakeOpenAI) -> Starlette:
    """Return the Starlette app serving ``/v1/chat/completions``."""

    async def completions(request: Request) -> Response:
        body = await request.json()
        state.requests.append(body)
        state.headers.append(dict(request.headers))
        model = body.get("model", "fake-model")
        text = _last_user_text(body)
        tool_calls = None
        content = state.vision_answer if _image_urls(body) else state.answer
        if body.get("tools"):
            name = body["tools"][0]["function"]["name"]
            arguments = json.dumps({"intents": state.intents_for(text)}, ensure_ascii=False)
            tool_calls = [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }
            ]
            content = ""
        pieces = [content[i : i + 4] for i in range(0, len(content), 4)]
        usage = {
            "prompt_tokens": 42,
            "completion_tokens": len(pieces) or 1,
            "total_tokens": 42 + (len(pieces) or 1),
        }
        finish = "tool_calls" if tool_calls else "stop"
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": content or None}
            if tool_calls:
                message["tool_calls"] = tool_calls
            return JSONResponse(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": usage,
                }
            )

        async def stream() -> AsyncIterator[str]:
            yield _chunk(model, {"role": "assistant", "content": ""})
            if tool_calls:
                call = tool_calls[0]
                yield _chunk(
                    model,
                    {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": call["id"],
                                "type": "function",
                                "function": {"name": call["function"]["name"], "arguments": ""},
                            }
                        ]
                    },
                )
                args = call["function"]["arguments"]
                for i in range(0, len(args), 8):
                    yield _chunk(
                        model,
                        {"tool_calls": [{"index": 0, "function": {"arguments": args[i : i + 8]}}]},
                    )
            for piece in pieces:
                yield _chunk(model, {"content": piece})
            yield _chunk(model, {}, finish)
            if (body.get("stream_options") or {}).get("include_usage"):
                tail = {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [],
                    "usage": usage,
                }
                yield f"data: {json.dumps(tail)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])


@contextmanager
def running_fake_openai() -> Iterator[FakeOpenAI]:
    """Run the fake server on a free loopback port in a thread for the ``with`` block."""
    state = FakeOpenAI()
    with serving(build_app(state), "fake OpenAI server") as url:
        state.base_url = f"{url}/v1"
        yield state
