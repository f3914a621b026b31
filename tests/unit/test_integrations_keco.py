"""KECO collection boxes on odcloud: filters, paging limits, kind filtering, error codes."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from eco2.domain.errors import NotConfiguredError
from eco2.infrastructure.integrations.http import (
    HttpProvider,
    MalformedResponseError,
    ProviderAuthError,
    ProviderUnavailableError,
    RetryPolicy,
    Scrubber,
    create_async_client,
)
from eco2.infrastructure.integrations.keco import KecoCollectionPoints, find_kind
from tests.fakes.providers.http_payloads import KEY, keco_row, odcloud_page
from tests.fakes.providers.http_scripted import Scripted, json_reply, text_reply

PATH = "/uddi:test-dataset"
ROWS = odcloud_page(
    keco_row("역삼1동 주민센터", "서울특별시 강남구 역삼로 123", "폐건전지, 폐형광등", 1),
    keco_row("강남구청", "서울특별시 강남구 학동로 426", "폐의약품", 2),
)


def make(scripted: Scripted, key: str | None = KEY, **kwargs: int) -> KecoCollectionPoints:
    scrubber = Scrubber([KEY])
    client = create_async_client(
        base_url="https://api.odcloud.test/api/15106385/v1",
        transport=scripted.transport(),
        scrubber=scrubber,
    )

    async def no_sleep(_: float) -> None:
        return None

    http = HttpProvider(
        "keco", client, retry=RetryPolicy(retries=1), scrubber=scrubber, sleep=no_sleep
    )
    return KecoCollectionPoints(
        http, SecretStr(key) if key else None, dataset_path=PATH.lstrip("/"), **kwargs
    )


def test_find_kind() -> None:
    assert find_kind("폐건전지 어디에 버려?") == "건전지"
    assert find_kind("남은 알약 버리는 곳") == "의약품"
    assert find_kind("소파") is None


async def test_district_filter_and_kind_filter() -> None:
    scripted = Scripted().on(PATH, json_reply(ROWS))
    points = await make(scripted).find("강남구 폐건전지 수거함 어디 있어?", None)
    assert [p.name for p in points] == ["역삼1동 주민센터"]
    assert points[0].address == "서울특별시 강남구 역삼로 123"
    assert points[0].method == "수거함 비치 · 주민센터 · 비용 무료"
    params = scripted.calls(PATH)[0].url.params
    assert params["cond[수거장소(주소)::LIKE]"] == "강남구"
    assert params["perPage"] == "200" and params["page"] == "1" and params["serviceKey"] == KEY


@pytest.mark.parametrize(
    "text", ["서울시 강남구 폐건전지 수거함", "서울특별시 강남구 건전지 어디 버려?"]
)
async def test_a_city_before_the_district_filters_by_the_district(text: str) -> None:
    scripted = Scripted().on(PATH, json_reply(ROWS))
    points = await make(scripted).find(text, None)
    assert [p.name for p in points] == ["역삼1동 주민센터"]
    params = scripted.calls(PATH)[0].url.params
    assert params["cond[수거장소(주소)::LIKE]"] == "강남구"  # not "서울시": no address has it


async def test_name_filter_and_no_district() -> None:
    scripted = Scripted().on(PATH, json_reply(ROWS))
    points = await make(scripted).fetch(name="구청")
    assert len(points) == 2
    params = scripted.calls(PATH)[0].url.params
    assert params["cond[상호명::LIKE]"] == "구청" and "cond[수거장소(주소)::LIKE]" not in params


async def test_empty_results() -> None:
    scripted = Scripted().on(PATH, json_reply(odcloud_page()))
    assert await make(scripted).find("해운대구 형광등", None) == []


def test_per_page_limit() -> None:
    with pytest.raises(ValueError, match="per_page"):
        make(Scripted(), per_page=1001)


async def test_odcloud_key_error_code() -> None:
    scripted = Scripted().on(
        PATH, json_reply({"code": -401, "msg": "유효하지 않은 인증키 입니다."})
    )
    with pytest.raises(ProviderAuthError, match="-401"):
        await make(scripted).find("건전지", None)


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (json_reply({}, 500), ProviderUnavailableError),
        (text_reply("<html>bad gateway</html>", content_type="text/html"), MalformedResponseError),
        (json_reply({"page": 1}), MalformedResponseError),
    ],
)
async def test_failures_are_typed(reply: object, error: type[Exception]) -> None:
    scripted = Scripted().on(PATH, reply)  # type: ignore[arg-type]
    with pytest.raises(error) as caught:
        await make(scripted).find("건전지", None)
    assert KEY not in str(caught.value)


async def test_not_configured() -> None:
    with pytest.raises(NotConfiguredError):
        await make(Scripted(), key=None).find("건전지", None)
