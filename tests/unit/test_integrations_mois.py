"""MOIS district info combined with the local fee tables, and its honest degradation."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from eco2.infrastructure.integrations.bulk_waste import LocalBulkWasteFees
from eco2.infrastructure.integrations.http import (
    HttpProvider,
    RetryPolicy,
    Scrubber,
    create_async_client,
)
from eco2.infrastructure.integrations.mois import (
    GENERAL_ITEM_ID,
    MoisBulkWaste,
    MoisBulkWasteQuote,
    find_district,
)
from tests.fakes.providers.http_payloads import (
    KEY,
    data_go_kr,
    data_go_kr_error,
    data_go_kr_xml_error,
    mois_item,
)
from tests.fakes.providers.http_scripted import Scripted, json_reply, text_reply


@pytest.fixture(scope="module")
def fees() -> LocalBulkWasteFees:
    return LocalBulkWasteFees()


def make(scripted: Scripted, fees: LocalBulkWasteFees, key: str | None = KEY) -> MoisBulkWaste:
    scrubber = Scrubber([KEY])
    client = create_async_client(
        base_url="https://mois.test/household_waste_info",
        transport=scripted.transport(),
        scrubber=scrubber,
    )

    async def no_sleep(_: float) -> None:
        return None

    http = HttpProvider(
        "mois", client, retry=RetryPolicy(retries=1), scrubber=scrubber, sleep=no_sleep
    )
    return MoisBulkWaste(http, SecretStr(key) if key else None, fees=fees)


@pytest.mark.parametrize(
    ("text", "district"),
    [
        ("강남구 소파 버리는 법", "강남구"),
        ("서울 중구에서 매트리스", "중구"),
        ("소파랑 가구 버리기", None),
        ("수원시 책상 버려요", "수원시"),
        # A city and one of its 구/군: MOIS and odcloud know the 구/군, not the city.
        ("서울시 강남구 소파", "강남구"),
        ("서울특별시 강남구 소파", "강남구"),
        ("부산시 해운대구 냉장고 버리기", "해운대구"),
        ("대구광역시 수성구 침대", "수성구"),
        ("대구 수성구 침대", "수성구"),
        ("울산광역시 울주군 소파", "울주군"),
        # Any other city keeps its name: a bare 북구 would be Busan's too.
        ("성남시 분당구 책상", "성남시 분당구"),
        ("경기도 고양시 일산동구 의자", "고양시 일산동구"),
        ("포항시 북구 소파", "포항시 북구"),
        ("창원시 마산합포구 냉장고", "창원시 마산합포구"),
        ("대구에서 소파", "대구"),
    ],
)
def test_find_district(text: str, district: str | None) -> None:
    assert find_district(text) == district


async def test_a_city_before_the_district_asks_mois_for_the_district(
    fees: LocalBulkWasteFees,
) -> None:
    scripted = Scripted().on("/info", json_reply(data_go_kr([mois_item()])))
    (quote,) = await make(scripted, fees).quote("서울시 강남구 소파 버리는 법")
    assert scripted.calls("/info")[0].url.params["cond[SGG_NM::LIKE]"] == "강남구"
    assert isinstance(quote, MoisBulkWasteQuote)
    assert quote.district == "서울특별시 강남구" and quote.district_info is not None
    assert quote.notes == ()


@pytest.mark.parametrize(
    "items", [[mois_item()], {"item": [mois_item()]}, {"item": mois_item()}, mois_item()]
)
async def test_list_or_single_object_items(items: object, fees: LocalBulkWasteFees) -> None:
    scripted = Scripted().on("/info", json_reply(data_go_kr(items)))
    (quote,) = await make(scripted, fees).quote("강남구 소파 버리려면?")
    assert isinstance(quote, MoisBulkWasteQuote)
    assert quote.item_name == "소파" and quote.fees  # fees from the local table
    assert quote.district == "서울특별시 강남구"
    assert quote.district_info is not None and quote.district_info.phone == "02-3423-5999"
    assert "02-3423-5999" in quote.report
    assert quote.procedure[0].startswith("강남구 대형폐기물 배출 방법:")
    params = scripted.calls("/info")[0].url.params
    assert params["cond[SGG_NM::LIKE]"] == "강남구" and params["returnType"] == "json"
    assert params["serviceKey"] == KEY and params["pageNo"] == "1"


async def test_district_without_a_fee_table_says_whose_fees_they_are(
    fees: LocalBulkWasteFees,
) -> None:
    scripted = Scripted().on("/info", json_reply(data_go_kr([mois_item("종로구")])))
    (quote,) = await make(scripted, fees).quote("종로구 매트리스 버리기")
    assert isinstance(quote, MoisBulkWasteQuote)
    assert quote.district == "서울특별시 종로구"
    assert quote.fees_district.endswith("강남구")
    assert any("예시 표" in note for note in quote.notes)


async def test_district_only_gives_a_general_quote(fees: LocalBulkWasteFees) -> None:
    scripted = Scripted().on("/info", json_reply(data_go_kr([mois_item("마포구")])))
    (quote,) = await make(scripted, fees).quote("마포구 대형폐기물 어떻게 버려?")
    assert quote.item_id == GENERAL_ITEM_ID and quote.fees == ()
    assert quote.procedure[0].startswith("마포구 대형폐기물 배출 방법:")


@pytest.mark.parametrize(
    "reply",
    [
        json_reply({}, 500),
        json_reply(data_go_kr_error("10", "INVALID_REQUEST_PARAMETER")),
        text_reply(data_go_kr_xml_error()),
        text_reply("{oops", content_type="application/json"),
    ],
)
async def test_mois_failure_degrades_to_local_fees(reply: object, fees: LocalBulkWasteFees) -> None:
    scripted = Scripted().on("/info", reply)  # type: ignore[arg-type]
    (quote,) = await make(scripted, fees).quote("강남구 소파")
    assert isinstance(quote, MoisBulkWasteQuote)
    assert quote.fees and quote.district_info is None
    assert quote.notes == ("지자체 배출 정보(MOIS)를 지금 불러오지 못했어요.",)
    assert KEY not in repr(quote)


async def test_no_rows_for_the_district(fees: LocalBulkWasteFees) -> None:
    scripted = Scripted().on("/info", json_reply(data_go_kr_error("03", "NODATA_ERROR")))
    (quote,) = await make(scripted, fees).quote("강남구 소파")
    assert isinstance(quote, MoisBulkWasteQuote)
    assert quote.notes == ("MOIS에 '강남구' 배출 정보가 없어요.",)


async def test_without_a_key_only_local_fees(fees: LocalBulkWasteFees) -> None:
    scripted = Scripted()
    (quote,) = await make(scripted, fees, key=None).quote("소파 버리는 법")
    assert quote.fees and scripted.requests == []


async def test_nothing_named_is_empty(fees: LocalBulkWasteFees) -> None:
    scripted = Scripted()
    assert await make(scripted, fees).quote("안녕하세요") == []
    assert scripted.requests == []  # no item and no district: MOIS is not asked
