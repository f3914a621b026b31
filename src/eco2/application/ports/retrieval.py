"""Port for retrieving waste-disposal knowledge."""

from __future__ import annotations

from typing import Protocol

from eco2.domain.knowledge import RetrievalHit, WasteItem


class WasteRetrievalPort(Protocol):
    """Searches the waste-disposal knowledge base."""

    async def search(self, query: str, k: int = 3) -> list[RetrievalHit]:
        """Return up to ``k`` hits for ``query``, best first."""
        ...

    def general_rules(self) -> list[str]:
        """Return the general separate-collection rules that apply to every item."""
        ...

    def item(self, item_id: str) -> WasteItem | None:
        """Return the item with ``item_id``, if any."""
        ...
