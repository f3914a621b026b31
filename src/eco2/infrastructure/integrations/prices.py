"""Recyclable prices from the packaged, dated KECO-survey-shaped table."""

from __future__ import annotations

from typing import Any

from eco2.domain.knowledge import PriceQuote
from eco2.infrastructure.alias_index import AliasIndex
from eco2.infrastructure.data import load_yaml

PRICES_FILE = "recyclable_prices.yaml"


class LocalPriceTable:
    """``RecyclablePricePort`` over the packaged price table.

    Args:
        raw: The parsed table (default: the packaged YAML file).
    """

    def __init__(self, raw: dict[str, Any] | None = None) -> None:
        raw = raw if raw is not None else load_yaml(PRICES_FILE)
        # The shipped figures are samples in the survey's shape: the answer must say so.
        source = f"{raw['publisher']} {raw['survey']} 형식의 예시 수치, {raw['as_of']} 기준"
        self._quotes = tuple(
            PriceQuote(
                id=i["id"],
                name=i["name"],
                region=i.get("region", ""),
                price_krw_per_kg=float(i["price_krw_per_kg"]),
                previous_month_krw_per_kg=(
                    float(i["previous_month_krw_per_kg"])
                    if i.get("previous_month_krw_per_kg") is not None
                    else None
                ),
                as_of=str(raw["as_of"]),
                source=source,
            )
            for i in raw["items"]
        )
        self._names = AliasIndex(
            (q, (q.name, *item.get("aliases", ())))
            for q, item in zip(self._quotes, raw["items"], strict=True)
        )

    async def quote(self, text: str) -> list[PriceQuote]:
        """Return the quotes for items named in ``text``; the whole table when none is named."""
        named = [quote for quote, _ in self._names.find(text)]
        return named or list(self._quotes)
