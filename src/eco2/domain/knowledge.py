"""Facts the sub-agents serve: waste items, retrieval hits, characters, prices, bulk-waste fees."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WasteItem:
    """One entry of the waste-disposal knowledge base."""

    id: str
    name: str
    category: str
    category_name: str
    aliases: tuple[str, ...]
    steps: tuple[str, ...]
    mistakes: tuple[str, ...]
    recyclable: bool


@dataclass(frozen=True, slots=True)
class RetrievalHit:
    """A knowledge-base item found for a query.

    Attributes:
        item: The item.
        score: Retrieval score, higher is better (alias matches rank above every BM25 score).
        matched_alias: The name or alias found verbatim in the query, if any.
        coverage: Share of the query's content words that the item's text contains, in [0, 1].
    """

    item: WasteItem
    score: float
    matched_alias: str | None = None
    coverage: float = 0.0


@dataclass(frozen=True, slots=True)
class Character:
    """An Eco² character and the waste categories it stands for."""

    id: str
    name: str
    english_name: str
    categories: tuple[str, ...]
    personality: str
    catchphrase: str
    description: str
    tip: str


@dataclass(frozen=True, slots=True)
class PriceQuote:
    """A recyclable's surveyed price."""

    id: str
    name: str
    region: str
    price_krw_per_kg: float
    previous_month_krw_per_kg: float | None
    as_of: str
    source: str


@dataclass(frozen=True, slots=True)
class BulkFee:
    """One size variant's fee for a bulk item in one district."""

    size: str
    fee_krw: int


@dataclass(frozen=True, slots=True)
class BulkWasteQuote:
    """What it takes to dispose of a bulk item in a district."""

    item_id: str
    item_name: str
    district: str
    fees: tuple[BulkFee, ...]
    free_pickup: bool
    report: str
    procedure: tuple[str, ...]
    as_of: str


@dataclass(frozen=True, slots=True)
class Place:
    """A place returned by a place search."""

    name: str
    address: str
    category: str = ""
    phone: str = ""
    distance_m: int | None = None
    url: str = ""


@dataclass(frozen=True, slots=True)
class WeatherReport:
    """Current weather and a short outlook at one location."""

    location_name: str
    temperature_c: float | None
    condition: str
    precipitation_probability: int | None = None
    observed_at: str = ""
    advice: str = ""


@dataclass(frozen=True, slots=True)
class CollectionPoint:
    """A dedicated collection box or drop-off point."""

    name: str
    address: str
    kinds: str
    method: str = ""


@dataclass(frozen=True, slots=True)
class SearchResult:
    """One web search hit."""

    title: str
    url: str
    snippet: str


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    """An image made for the user."""

    url: str
    prompt: str
