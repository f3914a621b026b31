"""Local sub-agent sources: characters, prices, bulk-waste fees."""

from __future__ import annotations

from eco2.infrastructure.integrations.bulk_waste import LocalBulkWasteFees
from eco2.infrastructure.integrations.characters import LocalCharacterCatalog
from eco2.infrastructure.integrations.prices import LocalPriceTable


async def test_characters_by_name_and_category() -> None:
    catalog = LocalCharacterCatalog()
    assert [c.name for c in await catalog.find("이코 소개해줘", [])] == ["이코"]
    assert [c.name for c in await catalog.find("누가 맡아?", ["pet"])] == ["페티"]
    assert len(await catalog.list_all()) == 14


async def test_prices_are_dated_and_sourced() -> None:
    table = LocalPriceTable()
    quotes = await table.quote("고철 시세 얼마야?")
    assert quotes and quotes[0].name.startswith("고철")
    assert quotes[0].as_of and "KECO" in quotes[0].source
    assert len(await table.quote("시세 알려줘")) > 10


async def test_bulk_fees_by_district() -> None:
    fees = LocalBulkWasteFees()
    [quote] = await fees.quote("마포구에서 소파 버리려면?")
    assert "마포구" in quote.district and quote.fees
    [default] = await fees.quote("소파 버리는 방법")
    assert "기본 예시 지역" in default.district
    [fridge] = await fees.quote("냉장고 버리기")
    assert fridge.free_pickup and not fridge.fees
