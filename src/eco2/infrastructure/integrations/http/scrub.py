"""Removes API keys from anything we log, raise or put on a span.

data.go.kr and odcloud take the key as the ``serviceKey`` query parameter, so request URLs carry
it; httpx logs every request URL at INFO. A :class:`Scrubber` knows the secrets in all the forms
they can take in a URL and replaces them; :func:`install_log_filter` applies it to httpx's logger
and also drops the query strings of the URLs there: a place search puts words of the user's
message and their coordinates in it, which logs never record (DESIGN.md §5).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

REDACTED = "***"
_KEY_PARAMS = re.compile(r"(?i)((?:service_?key|api_?key|key|token)=)[^&\s\"']+")
_QUERY = re.compile(r"(https?://[^\s?#\"']*)\?[^\s#\"']*")


class Scrubber:
    """Replaces known secrets, and the values of key-like query parameters, with ``***``.

    Args:
        secrets: Secret values (empty strings ignored). Their percent-encoded forms are added.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        """Register more secrets (and their URL-encoded forms)."""
        for secret in secrets:
            if len(secret) < 4:  # too short to scrub without mangling ordinary text
                continue
            self._secrets.update({secret, quote(secret, safe=""), quote_plus(secret)})

    def merge(self, other: Scrubber) -> None:
        """Register every secret ``other`` knows."""
        self._secrets.update(other._secrets)

    def __call__(self, text: str) -> str:
        """Return ``text`` with every known secret and key-like parameter value redacted."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        return _KEY_PARAMS.sub(rf"\1{REDACTED}", text)


class _ScrubFilter(logging.Filter):
    """Rewrites records of one logger so their rendered message holds no secret."""

    def __init__(self, scrubber: Scrubber) -> None:
        super().__init__()
        self.scrubber = scrubber

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = _QUERY.sub(r"\1", self.scrubber(message))
        if clean != message:
            record.msg, record.args = clean, None
        return True


_FILTERS: dict[str, _ScrubFilter] = {}


def install_log_filter(scrubber: Scrubber, logger_names: Iterable[str] = ("httpx",)) -> None:
    """Make the named loggers scrub the secrets ``scrubber`` knows (idempotent, accumulative).

    Args:
        scrubber: Whose secrets to remove; they are merged into the logger's one filter.
        logger_names: Loggers whose records carry request URLs.
    """
    for name in logger_names:
        existing = _FILTERS.get(name)
        if existing is None:
            existing = _FILTERS[name] = _ScrubFilter(Scrubber())
            logging.getLogger(name).addFilter(existing)
        existing.scrubber.merge(scrubber)
