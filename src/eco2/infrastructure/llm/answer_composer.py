"""Composes a Korean answer from the aggregated sub-agent contexts, and from nothing else.

Each sub-agent has a renderer that turns its facts into text; contexts that did not succeed
are listed plainly at the end. Nothing here adds a fact that is not in the contexts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

LABELS = {
    "waste_rag": "분리배출 지식베이스",
    "rag_fallback": "보완 검색",
    "weather": "날씨",
    "bulk_waste": "대형폐기물 수수료",
    "character": "캐릭터",
    "location": "장소 검색",
    "collection_point": "수거함 위치",
    "recyclable_price": "재활용품 시세",
    "web_search": "웹 검색",
    "image_generation": "이미지 생성",
    "general": "일반 대화",
    "vision": "사진 인식",
}
STATUS_PHRASES = {
    "not_configured": "설정되지 않아 이용할 수 없어요",
    "timeout": "응답 시간이 초과돼 가져오지 못했어요",
    "failed": "오류가 나서 가져오지 못했어요",
    "empty": "찾은 결과가 없어요",
}
NOTHING_FOUND = "죄송해요, 지금은 이 질문에 답할 수 있는 정보를 찾지 못했어요."

Renderer = Callable[[dict[str, Any]], str]


def _won(value: float) -> str:
    return f"{value:,.0f}원"


def _waste_rag(data: dict[str, Any]) -> str:
    items = data.get("items", [])
    if not items:
        return "분리배출 지식베이스에서 질문과 딱 맞는 항목을 찾지 못했어요."
    lines = []
    if data.get("quality") == "partial":
        lines.append("정확히 일치하는 항목은 없어서 가장 가까운 항목을 안내할게요.")
    for item in items:
        kind = "재활용" if item.get("recyclable") else "재활용 대상 아님"
        lines.append(f"**{item['name']}** ({item['category_name']}, {kind}) 배출 방법:")
        lines.extend(f"{n}. {step}" for n, step in enumerate(item["steps"], 1))
        if item.get("mistakes"):
            lines.append("자주 하는 실수: " + " / ".join(item["mistakes"]))
        lines.append("")
    used = ", ".join(f"{i['name']}({i['id']})" for i in items)
    lines.append(f"참고한 항목: {used}")
    return "\n".join(lines)


def _rag_fallback(data: dict[str, Any]) -> str:
    if data.get("path") == "web_search":
        hits = "\n".join(f"- {r['title']}: {r['url']}" for r in data.get("results", []))
        return f"웹 검색에서 찾은 자료예요:\n{hits}"
    return str(data.get("reply", ""))


def _weather(data: dict[str, Any]) -> str:
    w = data["weather"]
    parts = [f"날씨({w['location_name']}): {w['condition']}"]
    if w.get("temperature_c") is not None:
        parts.append(f"기온 {w['temperature_c']:g}°C")
    if w.get("precipitation_probability") is not None:
        parts.append(f"강수확률 {w['precipitation_probability']}%")
    text = ", ".join(parts)
    if w.get("observed_at"):
        text += f" ({w['observed_at']} 기준)"
    return text + (f"\n{w['advice']}" if w.get("advice") else "")


def _bulk_waste(data: dict[str, Any]) -> str:
    lines: list[str] = []
    procedure: list[str] = []
    for q in data["quotes"]:
        lines.append(
            f"**{q['item_name']}** 대형폐기물 배출 ({q['district']}, {q['as_of']} 기준 예시 요금표)"
        )
        if q["free_pickup"]:
            lines.append("- 폐가전 무상방문수거 대상이라 수수료 없이 예약해서 배출할 수 있어요.")
        lines.extend(f"- {fee['size']}: {_won(fee['fee_krw'])}" for fee in q["fees"])
        procedure = q["procedure"]
        lines.append(f"- 신고: {q['report']}")
    if procedure:
        lines.append("배출 절차:")
        lines.extend(f"{n}. {step}" for n, step in enumerate(procedure, 1))
    return "\n".join(lines)


def _character(data: dict[str, Any]) -> str:
    characters = data["characters"]
    if data.get("match") == "catalogue":
        names = ", ".join(f"{c['name']}({c['english_name']})" for c in characters)
        return f"Eco² 캐릭터들을 소개할게요: {names}."
    lines = []
    for c in characters[:3]:
        lines.append(f"**{c['name']}** ({c['english_name']}): {c['description']}")
        lines.append(f"「{c['catchphrase']}」 팁: {c['tip']}")
    return "\n".join(lines)


def _prices(data: dict[str, Any]) -> str:
    prices = data["prices"]
    lines = [f"재활용품 시세 ({prices[0]['source']}):"]
    for p in prices:
        line = f"- {p['name']} ({p['region']}): {_won(p['price_krw_per_kg'])}/kg"
        if p.get("previous_month_krw_per_kg") is not None:
            line += f" (전월 {_won(p['previous_month_krw_per_kg'])}/kg)"
        lines.append(line)
    return "\n".join(lines)


def _places(data: dict[str, Any]) -> str:
    lines = ["찾은 장소예요:"]
    for p in data["places"]:
        line = f"- {p['name']} — {p['address']}"
        if p.get("distance_m") is not None:
            line += f" ({p['distance_m']}m)"
        if p.get("phone"):
            line += f", ☎ {p['phone']}"
        lines.append(line)
    return "\n".join(lines)


def _points(data: dict[str, Any]) -> str:
    lines = ["가까운 수거 장소예요:"]
    lines.extend(f"- {p['name']} — {p['address']} ({p['kinds']})" for p in data["points"])
    return "\n".join(lines)


def _web(data: dict[str, Any]) -> str:
    lines = ["웹 검색 결과예요:"]
    lines.extend(f"- {r['title']}: {r['url']}" for r in data["results"])
    return "\n".join(lines)


def _image(data: dict[str, Any]) -> str:
    return f"요청하신 이미지를 만들었어요: {data['image']['url']}"


def _vision(data: dict[str, Any]) -> str:
    return f"사진 속 물건: {data['item']}"


def _general(data: dict[str, Any]) -> str:
    return str(data.get("reply", ""))


RENDERERS: dict[str, Renderer] = {
    "vision": _vision,
    "waste_rag": _waste_rag,
    "rag_fallback": _rag_fallback,
    "weather": _weather,
    "bulk_waste": _bulk_waste,
    "character": _character,
    "recyclable_price": _prices,
    "location": _places,
    "collection_point": _points,
    "web_search": _web,
    "image_generation": _image,
    "general": _general,
}


def compose_answer(block: dict[str, Any]) -> str:
    """Return the answer for a parsed context block (``{"intents", "contexts"}``)."""
    sections: list[str] = []
    missing: list[str] = []
    for context in block.get("contexts", []):
        name = str(context.get("name", ""))
        status = str(context.get("status", ""))
        label = LABELS.get(name, name)
        renderer = RENDERERS.get(name)
        if status == "ok" and renderer is not None:
            text = renderer(context.get("data", {})).strip()
            if text:
                sections.append(text)
        elif status != "ok":
            phrase = STATUS_PHRASES.get(status, "가져오지 못했어요")
            missing.append(f"- {label}({name}): {phrase} ({status})")
    if missing:
        sections.append("확인하지 못한 정보:\n" + "\n".join(missing))
    return "\n\n".join(sections) if sections else NOTHING_FOUND
