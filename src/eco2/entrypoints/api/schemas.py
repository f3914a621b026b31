"""Request and response bodies of the chat API (validated by pydantic; errors name the field)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from eco2.domain.chat import MAX_MESSAGE_CHARS


class Location(BaseModel):
    """The user's position (WGS84)."""

    model_config = ConfigDict(extra="forbid")

    # Strict: JSON numbers only (``true`` would otherwise be 1.0, and "37.5" a number).
    latitude: float = Field(ge=-90, le=90, strict=True)
    longitude: float = Field(ge=-180, le=180, strict=True)


class ChatBody(BaseModel):
    """``POST /api/v1/chat``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    message: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    session_id: str | None = Field(
        default=None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$"
    )
    user_location: Location | None = None
    image_url: HttpUrl | None = None


class ChatAccepted(BaseModel):
    """``202`` answer of ``POST /api/v1/chat``."""

    job_id: str
    stream_url: str
    trace_id: str


class JobView(BaseModel):
    """``GET /api/v1/chat/{job_id}``: status, and the result once done."""

    job_id: str
    status: str
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    last_event_id: str | None = None


class Snapshot(BaseModel):
    """``GET /api/v1/chat/{job_id}/snapshot``: the answer so far and where to continue."""

    job_id: str
    status: str
    text: str
    last_event_id: str | None
    seq: int
    truncated: bool = False
    """The stream's oldest entries were trimmed (``ECO2_STREAM_MAX_LEN``): ``text`` is partial."""


class FieldError(BaseModel):
    """One invalid field."""

    field: str
    message: str


class ErrorBody(BaseModel):
    """Every 4xx/5xx body."""

    error: str
    message: str
    fields: list[FieldError] = []
