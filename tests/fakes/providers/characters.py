"""Character catalogues that misbehave, to serve over gRPC in tests."""

from __future__ import annotations

import asyncio

from eco2.domain.knowledge import Character
from eco2.infrastructure.integrations.characters import LocalCharacterCatalog


class SlowCharacterCatalog:
    """The packaged catalogue, answering after ``delay_s`` seconds."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self._inner = LocalCharacterCatalog()

    async def find(self, text: str, categories: list[str]) -> list[Character]:
        await asyncio.sleep(self.delay_s)
        return await self._inner.find(text, categories)

    async def list_all(self) -> list[Character]:
        await asyncio.sleep(self.delay_s)
        return await self._inner.list_all()


class BrokenCharacterCatalog:
    """A catalogue whose every call raises."""

    async def find(self, text: str, categories: list[str]) -> list[Character]:
        raise RuntimeError("catalogue exploded")

    async def list_all(self) -> list[Character]:
        raise RuntimeError("catalogue exploded")
