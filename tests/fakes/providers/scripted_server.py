"""A local JSON server (Starlette) answering one POST route from a script of replies.

Shared by the Tavily and OpenAI images fakes: every request's headers and JSON body are recorded;
replies are consumed in order and the last one repeats; ``delay_s`` slows every answer so that
client timeouts can be tested over real sockets. A reply whose body is ``bytes`` is sent raw
(malformed JSON).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass(frozen=True)
class Reply:
    """One scripted answer."""

    body: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ScriptedJsonServer:
    """Server state: the route, the scripted replies and what was received."""

    path: str
    replies: list[Reply] = field(default_factory=list)
    delay_s: float = 0.0
    requests: list[tuple[dict[str, str], Any]] = field(default_factory=list)

    def then(self, body: Any, status: int = 200, **headers: str) -> ScriptedJsonServer:
        """Queue a reply."""
        self.replies.append(Reply(body, status, headers))
        return self

    def app(self) -> Starlette:
        """The ASGI app."""

        async def handle(request: Request) -> Response:
            raw = await request.body()
            self.requests.append((dict(request.headers), json.loads(raw) if raw else None))
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
            content = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body)
            return Response(content, reply.status, {**reply.headers}, media_type="application/json")

        return Starlette(routes=[Route(self.path, handle, methods=["POST"])])
