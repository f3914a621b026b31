"""Bulk-waste fees from the packaged, dated sample district tables."""

from __future__ import annotations

from typing import Any

from eco2.domain.knowledge import BulkFee, BulkWasteQuote
from eco2.infrastructure.alias_index import AliasIndex
from eco2.infrastructure.data import load_yaml

FEES_FILE = "bulk_waste_fees.yaml"
DEFAULT_DISTRICT = "seoul_gangnam"


class LocalBulkWasteFees:
    """``BulkWastePort`` over the packaged district fee tables.

    Without a district in the question, quotes come from ``default_district`` and say so.

    Args:
        raw: The parsed tables (default: the packaged YAML file).
        default_district: District id used when the question names none.
    """

    def __init__(
        self, raw: dict[str, Any] | None = None, default_district: str = DEFAULT_DISTRICT
    ) -> None:
        raw = raw if raw is not None else load_yaml(FEES_FILE)
        self._as_of = str(raw["as_of"])
        self._procedure = tuple(raw["general_procedure"])
        self._items = {item["id"]: item for item in raw["items"]}
        self._districts = {d["id"]: d for d in raw["districts"]}
        if default_district not in self._districts:
            raise ValueError(f"{FEES_FILE}: unknown default district {default_district!r}")
        self._default = default_district
        self._item_names = AliasIndex(
            (item_id, (item["name"], *item.get("aliases", ())))
            for item_id, item in self._items.items()
        )
        self._district_names = AliasIndex(
            (d["id"], (d["district"], d["district"].rstrip("구시군")))
            for d in raw["districts"]
            if len(d["district"].rstrip("구시군")) >= 2
        )

    async def quote(self, text: str) -> list[BulkWasteQuote]:
        """Return a quote per bulk item named in ``text``, in the named (or default) district."""
        districts = self._district_names.find(text)
        district = self._districts[districts[0][0] if districts else self._default]
        label = f"{district['province']} {district['district']}"
        if not districts:
            label += " (기본 예시 지역)"
        quotes = []
        for item_id, _ in self._item_names.find(text):
            item = self._items[item_id]
            fees = tuple(
                BulkFee(str(f["size"]), int(f["fee_krw"]))
                for f in district["fees"].get(item_id, ())
            )
            quotes.append(
                BulkWasteQuote(
                    item_id=item_id,
                    item_name=item["name"],
                    district=label,
                    fees=fees,
                    free_pickup=bool(item.get("free_pickup", False)),
                    report=str(district["report"]),
                    procedure=self._procedure,
                    as_of=self._as_of,
                )
            )
        return quotes
