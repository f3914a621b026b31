"""Payloads shaped like the providers' documented responses (DESIGN.md §8)."""

from __future__ import annotations

from typing import Any

KEY = "SeCrEt+Key/With=Chars123"  # has characters that are percent-encoded in URLs


def kakao_document(name: str, *, distance: str | None = "120", **extra: str) -> dict[str, Any]:
    """One Kakao Local document; coordinates and distance are strings."""
    doc = {
        "id": "26338954",
        "place_name": name,
        "category_name": "가정,생활 > 생활용품",
        "category_group_code": "",
        "category_group_name": "",
        "phone": "02-555-0101",
        "address_name": "서울 강남구 역삼동 823",
        "road_address_name": "서울 강남구 강남대로 396",
        "x": "127.027610",
        "y": "37.497950",
        "place_url": "http://place.map.kakao.com/26338954",
    }
    if distance is not None:
        doc["distance"] = distance
    return doc | extra


def kakao_page(*documents: dict[str, Any]) -> dict[str, Any]:
    """A Kakao Local keyword-search response."""
    return {
        "meta": {
            "total_count": len(documents),
            "pageable_count": len(documents),
            "is_end": True,
            "same_name": None,
        },
        "documents": list(documents),
    }


def data_go_kr(items: Any, *, code: str = "00", message: str = "NORMAL_SERVICE") -> dict[str, Any]:
    """A data.go.kr JSON envelope (``items`` may be a list, one object, or ``{"item": …}``)."""
    return {
        "response": {
            "header": {"resultCode": code, "resultMsg": message},
            "body": {
                "dataType": "JSON",
                "items": items,
                "pageNo": 1,
                "numOfRows": 10,
                "totalCount": len(items) if isinstance(items, list) else 1,
            },
        }
    }


def data_go_kr_error(code: str, message: str) -> dict[str, Any]:
    """A data.go.kr JSON error under HTTP 200 (no body)."""
    return {"response": {"header": {"resultCode": code, "resultMsg": message}}}


def data_go_kr_xml_error(
    code: str = "30", auth: str = "SERVICE_KEY_IS_NOT_REGISTERED_ERROR"
) -> str:
    """The gateway's XML error, sent whatever ``dataType`` asked for."""
    return (
        "<OpenAPI_ServiceResponse><cmmMsgHeader><errMsg>SERVICE ERROR</errMsg>"
        f"<returnAuthMsg>{auth}</returnAuthMsg><returnReasonCode>{code}</returnReasonCode>"
        "</cmmMsgHeader></OpenAPI_ServiceResponse>"
    )


def kma_observation(base_date: str, base_time: str, **values: str) -> list[dict[str, Any]]:
    """``getUltraSrtNcst`` items (``obsrValue`` strings per category)."""
    values = {"T1H": "12.3", "PTY": "0", "RN1": "0", "REH": "60", **values}
    return [
        {"baseDate": base_date, "baseTime": base_time, "category": c, "nx": 60, "ny": 127,
         "obsrValue": v}
        for c, v in values.items()
    ]  # fmt: skip


def kma_forecast(
    base_date: str, base_time: str, slots: dict[tuple[str, str], dict[str, str]]
) -> list[dict[str, Any]]:
    """``getVilageFcst`` items: ``slots`` maps ``(fcstDate, fcstTime)`` to category values."""
    return [
        {"baseDate": base_date, "baseTime": base_time, "category": c, "fcstDate": d,
         "fcstTime": t, "fcstValue": v, "nx": 60, "ny": 127}
        for (d, t), values in slots.items()
        for c, v in values.items()
    ]  # fmt: skip


def mois_item(district: str = "강남구", **extra: str) -> dict[str, Any]:
    """One MOIS household-waste row."""
    return {
        "CTPV_NM": "서울특별시",
        "SGG_NM": district,
        "EMD_NM": "",
        "EMSN_PLC_TYPE": "문전수거",
        "LF_WST_EMSN_MTHD": "종량제 봉투에 담아 배출",
        "FOD_WST_EMSN_MTHD": "음식물 전용 용기",
        "RCYCL_EMSN_DOW": "월,수,금",
        "BULK_WST_EMSN_MTHD": "인터넷 또는 동 주민센터 신고 후 스티커 부착 배출",
        "MNG_DEPT_NM": f"{district}청 청소행정과",
        "MNG_DEPT_TEL": "02-3423-5999",
        "DAT_CRTR_YMD": "2026-06-30",
    } | extra


def odcloud_page(*rows: dict[str, Any]) -> dict[str, Any]:
    """An odcloud page of the KECO collection-box dataset."""
    return {
        "page": 1,
        "perPage": 200,
        "totalCount": 1234,
        "currentCount": len(rows),
        "matchCount": len(rows),
        "data": list(rows),
    }


def keco_row(name: str, address: str, kinds: str, seq: int = 1) -> dict[str, Any]:
    """One collection-box row."""
    return {
        "순번": seq,
        "상호명": name,
        "수거장소(주소)": address,
        "수거방법": "수거함 비치",
        "수거종류": kinds,
        "장소구분": "주민센터",
        "수거비용": "무료",
    }
