"""Offline LangChain chat models: no network, no key, deterministic.

``OfflineAnswerModel`` composes the answer from the prompt's context block only;
``OfflineGeneralModel`` handles small talk and otherwise points to the general rules. Both stream
token by token (optionally at a configured pace) and report usage like a hosted model, so
LangGraph streaming, callbacks and tracing treat them the same way.

The pace is a schedule, not a sleep per token: token ``i`` is due ``ttft + i / tokens_per_s``
after the call starts, as a hosted model generates on its own clock whatever the client does. A
busy event loop that wakes late then finds the overdue tokens ready at once instead of adding
its lag to every one of them (which would stretch a 60-token answer by 60 wake-up delays).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

from eco2.application.answer_context import parse_context_block
from eco2.infrastructure.llm.answer_composer import NOTHING_FOUND, compose_answer

_TOKEN = re.compile(r"\S+\s*|\s+")


def split_tokens(text: str) -> list[str]:
    """Split ``text`` into the offline models' tokens; their concatenation is ``text``."""
    return _TOKEN.findall(text)


def _text_of(message: BaseMessage) -> str:
    return message.content if isinstance(message.content, str) else str(message.text)


class _ComposingChatModel(BaseChatModel):
    """A chat model whose reply is computed locally, then streamed token by token.

    Attributes:
        time_to_first_token_s: Delay before the first token (0 for tests).
        tokens_per_s: Pace of the following tokens (0 means no delay).
    """

    time_to_first_token_s: float = Field(default=0.0, ge=0.0)
    tokens_per_s: float = Field(default=0.0, ge=0.0)
    model_name: str = "eco2-offline"

    def _compose(self, messages: Sequence[BaseMessage]) -> str:
        raise NotImplementedError

    @property
    def _llm_type(self) -> str:
        return "eco2-offline"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    def _usage(self, messages: Sequence[BaseMessage], tokens: list[str]) -> UsageMetadata:
        prompt = sum(len(split_tokens(_text_of(m))) for m in messages)
        return UsageMetadata(
            input_tokens=prompt, output_tokens=len(tokens), total_tokens=prompt + len(tokens)
        )

    def _due(self, index: int) -> float:
        """Seconds after the call's start at which token ``index`` is ready."""
        if index < 0:  # the closing usage chunk
            return 0.0
        pace = index / self.tokens_per_s if self.tokens_per_s > 0 else 0.0
        return self.time_to_first_token_s + pace

    def _chunks(
        self, messages: Sequence[BaseMessage]
    ) -> Iterator[tuple[float, ChatGenerationChunk]]:
        tokens = split_tokens(self._compose(messages))
        for index, token in enumerate(tokens):
            yield self._due(index), ChatGenerationChunk(message=AIMessageChunk(content=token))
        final = AIMessageChunk(
            content="",
            usage_metadata=self._usage(messages, tokens),
            response_metadata={"model_name": self.model_name, "finish_reason": "stop"},
            chunk_position="last",
        )
        yield self._due(-1), ChatGenerationChunk(message=final)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = self._compose(messages)
        message = AIMessage(
            content=text,
            usage_metadata=self._usage(messages, split_tokens(text)),
            response_metadata={"model_name": self.model_name, "finish_reason": "stop"},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        start = time.monotonic()
        for due, chunk in self._chunks(messages):
            wait = start + due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if run_manager and chunk.text:
                run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for due, chunk in self._chunks(messages):
            wait = start + due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if run_manager and chunk.text:
                await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk


class OfflineAnswerModel(_ComposingChatModel):
    """Answers only from the context block in the prompt; names the items it used."""

    model_name: str = "eco2-offline-answer"

    def _compose(self, messages: Sequence[BaseMessage]) -> str:
        for message in messages:
            block = parse_context_block(_text_of(message))
            if block is not None:
                return compose_answer(block)
        return NOTHING_FOUND


_GREETING = re.compile(r"안녕|하이|ㅎㅇ|반가|hello|\bhi\b|\bhey\b|좋은 ?아침", re.IGNORECASE)
_THANKS = re.compile(r"고마|감사|ㄳ|ㄱㅅ|thank|thx", re.IGNORECASE)
_ABOUT = re.compile(
    r"누구|뭐 ?할 ?수|무엇을 ?할|기능|도움|도와|who are you|what can you|help", re.IGNORECASE
)


class OfflineGeneralModel(_ComposingChatModel):
    """Small talk and self-description; for anything else, the general disposal rules.

    Attributes:
        general_rules: Rules that apply to every item (from the knowledge base).
    """

    model_name: str = "eco2-offline-general"
    general_rules: list[str] = Field(default_factory=list)

    def _compose(self, messages: Sequence[BaseMessage]) -> str:
        humans = [m for m in messages if isinstance(m, HumanMessage)]
        text = _text_of(humans[-1]) if humans else ""
        intro = (
            "저는 분리배출 도우미 이코예요. 물건 이름을 알려 주시면 버리는 방법을 단계별로 "
            "알려 드리고, 대형폐기물 수수료, 재활용품 시세, Eco² 캐릭터도 안내해 드려요."
        )
        if _THANKS.search(text):
            return "천만에요! 헷갈리는 물건이 있으면 언제든 물어봐 주세요."
        if _GREETING.search(text) or _ABOUT.search(text):
            return f"안녕하세요! {intro}"
        rules = "\n".join(f"- {rule}" for rule in self.general_rules)
        reply = "그 질문에 대한 정확한 정보는 제가 가진 자료에 없어요."
        if rules:
            reply += f" 대신 분리배출의 기본 원칙을 알려 드릴게요:\n{rules}"
        return reply
