"""ASGI middleware rejecting request bodies over a size limit with 413."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(HTTPException):
    """The body exceeded the limit while streaming in (no or a wrong Content-Length).

    An ``HTTPException``: FastAPI turns any other error raised while it reads a body into a 400,
    and lets these through to the app's handler, which answers 413.
    """

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body over {max_bytes} bytes")


class BodySizeLimit:
    """Rejects bodies larger than ``max_bytes`` (by Content-Length, or while reading).

    Args:
        app: The wrapped application.
        max_bytes: The limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(send)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        try:
            await self.app(scope, counting_receive, send)
        except BodyTooLarge:  # read outside FastAPI's body parsing, so not handled there
            await self._reject(send)

    async def _reject(self, send: Send) -> None:
        body = json.dumps(too_large_body(self.max_bytes)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


def too_large_body(max_bytes: int) -> dict[str, object]:
    """The JSON error body of a 413."""
    return {
        "error": "payload_too_large",
        "message": f"request body over {max_bytes} bytes",
        "fields": [{"field": "body", "message": "too large"}],
    }
