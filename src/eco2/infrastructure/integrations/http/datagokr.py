"""The data.go.kr response envelope (KMA, MOIS): result codes, XML errors, item lists.

JSON shape: ``{"response": {"header": {"resultCode", "resultMsg"}, "body": {"items": {"item":
[...]}, "totalCount", …}}}``. ``resultCode`` "00" is success and "03" (NODATA_ERROR) an empty
result; every other code is an error even under HTTP 200. The gateway answers some errors (bad or
unregistered key, quota) in XML whatever ``dataType`` asked for, so XML bodies are read for their
code with a regular expression (no XML parser touches untrusted input).
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from eco2.infrastructure.integrations.http.client import json_body
from eco2.infrastructure.integrations.http.errors import (
    MalformedResponseError,
    ProviderAuthError,
    ProviderErrorCode,
    ProviderRateLimitedError,
    ProviderUnavailableError,
)

NO_DATA = "03"
_TRANSIENT = frozenset({"01", "02", "04", "05"})  # application/DB/HTTP error, service timeout
_AUTH = frozenset({"20", "30", "31", "32", "33"})  # denied, key unregistered/expired, IP, …
_QUOTA = "22"  # LIMITED_NUMBER_OF_SERVICE_REQUESTS_EXCEEDS: the daily quota is used up
_QUOTA_RESET_S = 3600.0  # long enough that no retry is attempted
_XML_CODE = re.compile(r"<(?:returnReasonCode|resultCode)>\s*(\w+)\s*<")
_XML_MSG = re.compile(r"<(returnAuthMsg|resultMsg|errMsg)>\s*([^<]{0,200}?)\s*<")


def raise_for_code(provider: str, code: str, message: str) -> None:
    """Raise the typed error of a data.go.kr result code; return for success and no-data.

    Raises:
        ProviderAuthError: The key is not registered, expired or denied.
        ProviderRateLimitedError: The daily quota is exhausted.
        ProviderUnavailableError: A transient provider failure (retried).
        ProviderErrorCode: Any other code (bad parameters, unknown error).
    """
    code = code.strip()
    if code in ("00", "0", NO_DATA):
        return
    message = re.sub(r"[^\w .,:/()-]", "", message)[:120] or "no message"
    if code in _AUTH:
        raise ProviderAuthError(provider, f"error code {code}: {message}")
    if code == _QUOTA:
        raise ProviderRateLimitedError(provider, f"error code {code}: {message}", _QUOTA_RESET_S)
    if code in _TRANSIENT:
        raise ProviderUnavailableError(provider, f"error code {code}: {message}")
    raise ProviderErrorCode(provider, code, message)


def _xml_error(provider: str, text: str) -> MalformedResponseError:
    code = _XML_CODE.search(text)
    messages = dict((m.group(1), m.group(2)) for m in _XML_MSG.finditer(text))
    message = messages.get("returnAuthMsg") or messages.get("resultMsg") or messages.get("errMsg")
    if code is None:
        return MalformedResponseError(provider, "XML response without a result code")
    raise_for_code(provider, code.group(1), message or "")
    return MalformedResponseError(provider, f"XML response (code {code.group(1)}), JSON expected")


def _as_list(items: Any) -> list[dict[str, Any]]:
    if items in (None, "", []):
        return []
    if isinstance(items, dict) and "item" in items:
        items = items["item"]
    if isinstance(items, dict):
        return [items]
    if isinstance(items, list) and all(isinstance(i, dict) for i in items):
        return items
    raise MalformedResponseError("data.go.kr", "items is neither a list nor an object")


def parse_items(response: httpx.Response, provider: str) -> list[dict[str, Any]]:
    """Return the envelope's items (``[]`` for "no data"), or raise the typed error.

    Args:
        response: A 2xx response of a data.go.kr service.
        provider: Provider name for errors.

    Raises:
        ProviderError: A typed subclass for error codes, XML errors and malformed bodies.
    """
    text = response.text.lstrip()
    if text.startswith("<"):
        raise _xml_error(provider, text)
    body = json_body(response, provider)
    if not isinstance(body, dict):
        raise MalformedResponseError(provider, "top level is not an object")
    envelope = body.get("response", body)
    header = envelope.get("header") or {}
    code = str(header.get("resultCode", "")).strip()
    if not code:
        raise MalformedResponseError(provider, "no resultCode in the response header")
    raise_for_code(provider, code, str(header.get("resultMsg", "")))
    if code == NO_DATA:
        return []
    payload = envelope.get("body") or {}
    try:
        return _as_list(payload.get("items"))
    except MalformedResponseError:
        raise MalformedResponseError(provider, "items is neither a list nor an object") from None
