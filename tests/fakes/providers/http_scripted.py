"""A scripted ``httpx.MockTransport``: canned responses per path, every request recorded."""

from __future__ import annotations

import json
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


def json_reply(body: Any, status: int = 200, **headers: str) -> httpx.Response:
    """A JSON response."""
    return httpx.Response(
        status,
        content=json.dumps(body, ensure_ascii=False).encode(),
        headers={"content-type": "application/json;charset=UTF-8", **headers},
    )


def text_reply(text: str, status: int = 200, content_type: str = "text/xml") -> httpx.Response:
    """A non-JSON response (XML errors, HTML gateways, broken JSON)."""
    return httpx.Response(status, content=text.encode(), headers={"content-type": content_type})


@dataclass
class Scripted:
    """Replies queued per path suffix; the last reply of a queue repeats."""

    replies: dict[str, deque[Reply]] = field(default_factory=lambda: defaultdict(deque))
    requests: list[httpx.Request] = field(default_factory=list)

    def on(self, path_suffix: str, *replies: Reply) -> Scripted:
        """Queue ``replies`` for requests whose path ends with ``path_suffix``."""
        self.replies[path_suffix].extend(replies)
        return self

    def calls(self, path_suffix: str = "") -> list[httpx.Request]:
        """Requests received whose path ends with ``path_suffix``."""
        return [r for r in self.requests if r.url.path.endswith(path_suffix)]

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        for suffix, queue in self.replies.items():
            if request.url.path.endswith(suffix) and queue:
                reply = queue.popleft() if len(queue) > 1 else queue[0]
                if isinstance(reply, Exception):
                    raise reply
                if callable(reply) and not isinstance(reply, httpx.Response):
                    return reply(request)
                return reply
        return json_reply({"message": "no route"}, 404)

    def transport(self) -> httpx.MockTransport:
        """The transport to hand to the client factory."""
        return httpx.MockTransport(self.handler)
