"""A chat request and the job that serves it."""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from eco2.domain.errors import InvalidRequestError

MAX_MESSAGE_CHARS = 2000
_SESSION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


@dataclass(frozen=True, slots=True)
class GeoPoint:
    """A WGS84 coordinate."""

    latitude: float
    longitude: float

    def __post_init__(self) -> None:
        if not -90.0 <= self.latitude <= 90.0:
            raise InvalidRequestError("user_location.latitude", "must be between -90 and 90")
        if not -180.0 <= self.longitude <= 180.0:
            raise InvalidRequestError("user_location.longitude", "must be between -180 and 180")


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """What a user sent. Construction validates every field.

    Raises:
        InvalidRequestError: naming the first invalid field.
    """

    message: str
    session_id: str | None = None
    user_location: GeoPoint | None = None
    image_url: str | None = None
    user_id: str | None = None
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        text = self.message.strip() if isinstance(self.message, str) else ""
        if not any(ch.isprintable() and not ch.isspace() for ch in text):  # "\u200b", "\x00"
            raise InvalidRequestError("message", "must not be empty")
        if len(text) > MAX_MESSAGE_CHARS:
            raise InvalidRequestError("message", f"must be at most {MAX_MESSAGE_CHARS} characters")
        object.__setattr__(self, "message", text)
        if self.session_id is not None and not _SESSION_ID.match(self.session_id):
            raise InvalidRequestError(
                "session_id", "must be 1-128 characters of letters, digits, '.', '_', ':' or '-'"
            )
        if self.image_url is not None and not self.image_url.startswith(("https://", "http://")):
            raise InvalidRequestError("image_url", "must be an http(s) URL")


class JobStatus(StrEnum):
    """Life cycle of a chat job."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    ERROR = "error"


def new_job_id() -> str:
    """Return a fresh, URL-safe job id."""
    return uuid.uuid4().hex


def new_trace_id() -> str:
    """Return a random W3C trace id (32 lowercase hex digits, never all zeros)."""
    return secrets.token_hex(16)


@dataclass(slots=True)
class ChatJob:
    """One unit of work: a request, its ids and its status.

    ``requested_at`` is when the user asked, on this process's ``time.perf_counter`` clock
    (``None``: when this run began). The user's wait starts there: the job's time in the queue,
    earlier deliveries' runs and in-place reruns all count.
    """

    request: ChatRequest
    job_id: str = field(default_factory=new_job_id)
    trace_id: str = field(default_factory=new_trace_id)
    status: JobStatus = JobStatus.QUEUED
    requested_at: float | None = None
    error_code: str | None = None
    """The code of the ``error`` event that ended the job, once one did."""
