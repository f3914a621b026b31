"""The in-process character catalogue (the gRPC service serves the same data)."""

from __future__ import annotations

from typing import Any

from eco2.domain.knowledge import Character
from eco2.infrastructure.alias_index import AliasIndex
from eco2.infrastructure.data import load_yaml

CATALOGUE_FILE = "characters.yaml"


class LocalCharacterCatalog:
    """``CharacterCatalogPort`` over the packaged catalogue.

    Args:
        raw: The parsed catalogue (default: the packaged YAML file).
    """

    def __init__(self, raw: dict[str, Any] | None = None) -> None:
        raw = raw if raw is not None else load_yaml(CATALOGUE_FILE)
        self._characters = tuple(
            Character(
                id=c["id"],
                name=c["name"],
                english_name=c["english_name"],
                categories=tuple(c["categories"]),
                personality=c["personality"],
                catchphrase=c["catchphrase"],
                description=c["description"],
                tip=c["tip"],
            )
            for c in raw["characters"]
        )
        self._names = AliasIndex((c, (c.name, c.english_name)) for c in self._characters)

    async def find(self, text: str, categories: list[str]) -> list[Character]:
        """Return characters named in ``text``, then those standing for ``categories``."""
        found = [character for character, _ in self._names.find(text)]
        for category in categories:
            for character in self._characters:
                if category in character.categories and character not in found:
                    found.append(character)
        return found

    async def list_all(self) -> list[Character]:
        """Return the whole catalogue."""
        return list(self._characters)
