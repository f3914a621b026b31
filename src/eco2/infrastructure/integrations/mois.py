"""``BulkWastePort`` combining MOIS household-waste district info with the local fee tables.

MOIS (data.go.kr ``household_waste_info/info``, filtered with ``cond[SGG_NM::LIKE]``) says how a
district collects bulk waste and who runs it (department, phone); the packaged, dated fee tables
say what each item costs. The quotes are :class:`MoisBulkWasteQuote` — a ``BulkWasteQuote`` with
the district info added — so the port's contract holds. When MOIS fails or has nothing for the
district, the local quotes are returned with a note saying so: the answer degrades, never fails.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from typing import Any

from pydantic import SecretStr

from eco2.domain.knowledge import BulkWasteQuote
from eco2.infrastructure.data import load_yaml
from eco2.infrastructure.integrations.bulk_waste import FEES_FILE, LocalBulkWasteFees
from eco2.infrastructure.integrations.http.client import HttpProvider
from eco2.infrastructure.integrations.http.datagokr import parse_items
from eco2.infrastructure.integrations.http.errors import ProviderError

log = logging.getLogger(__name__)

INFO_PATH = "/info"
GENERAL_ITEM_ID = "bulk_waste_general"
_DISTRICT = re.compile(
    r"(?:^|(?<=[\s,.(]))([가-힣]{1,4}(?:구|군|시))(?=$|[\s,.?!)]|에서|에|은|는|의|도|이|엔)"
)
_NOT_DISTRICTS = frozenset(
    {
        "가구", "도구", "기구", "입구", "출구", "친구", "연구", "요구", "용구", "문구",
        "전구", "공구", "장군", "다시", "혹시", "역시", "동시", "당시", "수시", "표시",
        "도시", "감시", "지시", "게시", "무시", "실시", "제시", "즉시", "임시", "항시",
        "잠시",
    }
)  # fmt: skip
_CITY_NAMES_LIKE_DISTRICTS = frozenset({"대구"})  # a metropolitan city whose name ends in 구
_METROPOLITAN = re.compile(r"^(서울|부산|대구|인천|광주|대전|울산)(특별시|광역시|시)?$")
_PROVINCES: tuple[str, ...] = (
    "서울", "부산", "대구", "인천", "광주", "대전", "울산", "세종", "경기", "강원",
    "충북", "충청북", "충남", "충청남", "전북", "전라북", "전남", "전라남", "경북",
    "경상북", "경남", "경상남", "제주",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class DistrictWasteInfo:
    """One MOIS row: how a district collects household and bulk waste."""

    province: str
    district: str
    town: str = ""
    bulk_method: str = ""
    general_method: str = ""
    food_method: str = ""
    recycling_days: str = ""
    department: str = ""
    phone: str = ""
    as_of: str = ""


@dataclass(frozen=True, slots=True)
class MoisBulkWasteQuote(BulkWasteQuote):
    """A fee quote plus the district's MOIS info (``None`` when MOIS had none).

    Attributes:
        district_info: The MOIS row used.
        fees_district: District the fees come from, when not the asked district.
        notes: Honest remarks on what is missing (MOIS down, fees from another district, …).
    """

    district_info: DistrictWasteInfo | None = None
    fees_district: str = ""
    notes: tuple[str, ...] = ()


def find_district(text: str) -> str | None:
    """Return the district (…구/군/시) written in ``text``, if any.

    A metropolitan city followed by one of its 구/군 ("서울시 강남구", "부산광역시 해운대구")
    gives the 구/군: MOIS lists those districts by it (the province a text names picks among
    same-named ones, :func:`pick_row`), and the city's name matches none of their rows. Any
    other city keeps its name before its 구 ("포항시 북구", "성남시 분당구"), as MOIS and the
    addresses write it: a bare "북구" would be Busan's as well. A city alone ("수원시") is the
    district.

    Example:
        ``find_district("서울시 강남구 소파 버리는 법") == "강남구"``
    """
    matches = [m for m in _DISTRICT.finditer(text) if m.group(1) not in _NOT_DISTRICTS]
    if not matches:
        return None
    first = matches[0]
    city = first.group(1).endswith("시") or first.group(1) in _CITY_NAMES_LIKE_DISTRICTS
    if city and len(matches) > 1:
        second = matches[1]
        between = text[first.end() : second.start()]
        if second.group(1).endswith(("구", "군")) and not between.strip(" ,"):
            if _METROPOLITAN.match(first.group(1)):
                return second.group(1)
            return f"{first.group(1)} {second.group(1)}"
    return first.group(1)


def _row(item: dict[str, Any]) -> DistrictWasteInfo:
    def field(key: str) -> str:
        return str(item.get(key) or "").strip()

    return DistrictWasteInfo(
        province=field("CTPV_NM"),
        district=field("SGG_NM"),
        town=field("EMD_NM"),
        bulk_method=field("BULK_WST_EMSN_MTHD"),
        general_method=field("LF_WST_EMSN_MTHD"),
        food_method=field("FOD_WST_EMSN_MTHD"),
        recycling_days=field("RCYCL_EMSN_DOW"),
        department=field("MNG_DEPT_NM"),
        phone=field("MNG_DEPT_TEL"),
        as_of=field("DAT_CRTR_YMD"),
    )


def pick_row(rows: list[DistrictWasteInfo], district: str, text: str) -> DistrictWasteInfo | None:
    """Pick the best row: exact district, in a province the text names, with a bulk method."""

    def score(row: DistrictWasteInfo) -> tuple[bool, bool, bool]:
        province_named = any(p in text and row.province.startswith(p) for p in _PROVINCES)
        return (row.district == district, province_named, bool(row.bulk_method))

    return max(rows, key=score) if rows else None


class MoisBulkWaste:
    """``BulkWastePort``: local fee tables enriched with MOIS district info.

    Args:
        http: The MOIS provider (base URL ``…/1741000/household_waste_info``).
        service_key: The data.go.kr key; ``None`` → local fee quotes only, with a note.
        fees: The local fee tables.
        num_rows: Rows asked of MOIS per district (a district has one row per town/place type).
    """

    def __init__(
        self,
        http: HttpProvider,
        service_key: SecretStr | None,
        *,
        fees: LocalBulkWasteFees,
        num_rows: int = 20,
    ) -> None:
        self._http = http
        self._key = service_key
        self._fees = fees
        self._rows = num_rows
        self._procedure: tuple[str, ...] | None = None

    async def district_info(self, district: str, text: str = "") -> DistrictWasteInfo | None:
        """Return MOIS info for ``district`` (``None`` when MOIS has no row for it).

        Raises:
            ProviderError: MOIS failed.
        """
        if self._key is None:
            return None
        params: dict[str, str | int] = {
            "serviceKey": self._key.get_secret_value(),
            "pageNo": 1,
            "numOfRows": self._rows,
            "returnType": "json",
            "cond[SGG_NM::LIKE]": district,
        }
        items = await self._http.get(INFO_PATH, lambda r: parse_items(r, "mois"), params=params)
        return pick_row([_row(i) for i in items], district, text)

    async def quote(self, text: str) -> list[BulkWasteQuote]:
        """Return quotes for the bulk items named in ``text`` with the district's MOIS info.

        With no item named but a district named, one general quote (procedure and district info,
        no fees) is returned. MOIS failures degrade to the local quotes plus a note.
        """
        local = await self._fees.quote(text)
        named = find_district(text)
        fee_label = local[0].district if local else ""
        district = named or fee_label.split(" (")[0].split(" ")[-1]
        if not district:
            return []
        notes: list[str] = []
        info: DistrictWasteInfo | None = None
        if self._key is None:
            notes.append("지자체 배출 정보(MOIS)는 설정되지 않아 포함하지 않았어요.")
        else:
            try:
                info = await self.district_info(district, text)
            except ProviderError as exc:
                log.warning("mois_lookup_failed", extra={"error": str(exc)})
                notes.append("지자체 배출 정보(MOIS)를 지금 불러오지 못했어요.")
            if info is None and not notes:
                notes.append(f"MOIS에 '{district}' 배출 정보가 없어요.")
        if not local:
            if info is None:
                return []
            return [self._general(info, notes)]
        return [self._combine(q, info, named, notes) for q in local]

    def _combine(
        self,
        quote: BulkWasteQuote,
        info: DistrictWasteInfo | None,
        named: str | None,
        notes: list[str],
    ) -> MoisBulkWasteQuote:
        fee_district = quote.district.split(" (")[0]
        label, fees_from = quote.district, ""
        extra = list(notes)
        if info is not None:
            label = f"{info.province} {info.district}".strip()
        if named and not fee_district.endswith(named):
            label = f"{info.province} {info.district}".strip() if info else named
            fees_from = fee_district
            extra.append(
                f"수수료는 {fee_district} 예시 표예요. {label} 수수료는 구청에서 확인하세요."
            )
        return MoisBulkWasteQuote(
            **_base_fields(replace(quote, district=label)),
            procedure=_procedure(info, quote.procedure),
            report=_report(info, quote.report),
            district_info=info,
            fees_district=fees_from,
            notes=tuple(extra),
        )

    def _general(self, info: DistrictWasteInfo, notes: list[str]) -> MoisBulkWasteQuote:
        procedure = self._fees_procedure()
        return MoisBulkWasteQuote(
            item_id=GENERAL_ITEM_ID,
            item_name="대형폐기물",
            district=f"{info.province} {info.district}".strip(),
            fees=(),
            free_pickup=False,
            report=_report(info, ""),
            procedure=_procedure(info, procedure),
            as_of=info.as_of,
            district_info=info,
            notes=tuple(notes),
        )

    def _fees_procedure(self) -> tuple[str, ...]:
        if self._procedure is None:
            self._procedure = tuple(str(s) for s in load_yaml(FEES_FILE)["general_procedure"])
        return self._procedure


def _base_fields(quote: BulkWasteQuote) -> dict[str, Any]:
    return {
        "item_id": quote.item_id,
        "item_name": quote.item_name,
        "district": quote.district,
        "fees": quote.fees,
        "free_pickup": quote.free_pickup,
        "as_of": quote.as_of,
    }


def _procedure(info: DistrictWasteInfo | None, general: tuple[str, ...]) -> tuple[str, ...]:
    if info is None or not info.bulk_method:
        return general
    return (f"{info.district} 대형폐기물 배출 방법: {info.bulk_method}", *general)


def _report(info: DistrictWasteInfo | None, local: str) -> str:
    if info is None or not (info.department or info.phone):
        return local
    contact = " ".join(p for p in (info.department, info.phone) if p)
    return f"{local} (문의: {contact})" if local else f"문의: {contact}"
