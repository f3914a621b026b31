"""Loads the waste-disposal knowledge base from its YAML file into domain objects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eco2.domain.knowledge import WasteItem
from eco2.infrastructure.data import load_yaml

KB_FILE = "waste_kb.yaml"


@dataclass(frozen=True, slots=True)
class KnowledgeBase:
    """The knowledge base: items, category names, general rules and provenance."""

    version: str
    source: str
    categories: dict[str, str]
    general_rules: tuple[str, ...]
    items: tuple[WasteItem, ...]


def load_knowledge_base(raw: dict[str, Any] | None = None) -> KnowledgeBase:
    """Build the knowledge base from ``raw`` (default: the packaged YAML file).

    Raises:
        ValueError: when an item names an unknown category or an id repeats.
    """
    raw = raw if raw is not None else load_yaml(KB_FILE)
    categories = {c["id"]: c["name"] for c in raw["categories"]}
    items: list[WasteItem] = []
    seen: set[str] = set()
    for entry in raw["items"]:
        if entry["id"] in seen:
            raise ValueError(f"{KB_FILE}: duplicate item id {entry['id']!r}")
        if entry["category"] not in categories:
            raise ValueError(f"{KB_FILE}: item {entry['id']!r} has unknown category")
        seen.add(entry["id"])
        items.append(
            WasteItem(
                id=entry["id"],
                name=entry["name"],
                category=entry["category"],
                category_name=categories[entry["category"]],
                aliases=tuple(entry.get("aliases", ())),
                steps=tuple(entry["steps"]),
                mistakes=tuple(entry.get("mistakes", ())),
                recyclable=bool(entry.get("recyclable", False)),
            )
        )
    return KnowledgeBase(
        version=str(raw.get("version", "")),
        source=str(raw.get("source", "")),
        categories=categories,
        general_rules=tuple(raw.get("general_rules", ())),
        items=tuple(items),
    )
