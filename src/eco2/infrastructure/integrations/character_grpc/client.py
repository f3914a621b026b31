"""``GrpcCharacterCatalog``: the ``CharacterCatalogPort`` of distributed mode, over gRPC.

Every call carries a deadline; failures come back as the typed errors of :mod:`.errors`
(``UNAVAILABLE`` and ``DEADLINE_EXCEEDED`` as ``ProviderUnavailableError`` subclasses), so the
character node degrades like it does for any provider. With a tracer provider, the
OpenTelemetry gRPC client interceptors make each call a child span of the caller's span and
propagate the trace context to the server in the call metadata.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc
from opentelemetry.trace import TracerProvider

from eco2.domain.knowledge import Character
from eco2.infrastructure.integrations.character_grpc.errors import error_from_status
from eco2.infrastructure.integrations.character_grpc.protocol import (
    from_message,
    generated,
    otel_grpc,
)

log = logging.getLogger(__name__)

# Reconnect soon after the server is back: gRPC's default backoff grows to 120 s, and every call
# made while the channel waits fails at once (seen: 43 s of failed character answers after a
# 150 s outage).
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.min_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 2000),
]


class GrpcCharacterCatalog:
    """``CharacterCatalogPort`` backed by a remote ``CharacterService``.

    Nothing connects at construction: the channel is opened on the first call (one per event
    loop, since ``grpc.aio`` channels belong to the loop that made them).

    Args:
        target: The server, as a gRPC target (``127.0.0.1:50051``, ``dns:///characters:50051``).
        timeout_s: Deadline of every call, in seconds.
        tracer_provider: When given, calls are traced with opentelemetry-instrumentation-grpc.
        credentials: TLS channel credentials; ``None`` opens a plaintext channel (in-cluster).
    """

    def __init__(
        self,
        target: str,
        timeout_s: float = 1.0,
        *,
        tracer_provider: TracerProvider | None = None,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        self.target = target
        self.timeout_s = timeout_s
        self._tracer_provider = tracer_provider
        self._credentials = credentials
        self._channel: grpc.aio.Channel | None = None
        self._stub: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def find(self, text: str, categories: list[str]) -> list[Character]:
        """Return characters named in ``text``, then those standing for ``categories``.

        Raises:
            ProviderUnavailableError: The server is unreachable or missed the deadline.
            CharacterServiceError: The server answered with another error status.
        """
        request = generated().messages.FindCharactersRequest(text=text, categories=categories)
        response = await self._call("FindCharacters", request)
        return [from_message(message) for message in response.characters]

    async def list_all(self) -> list[Character]:
        """Return the whole catalogue (errors as :meth:`find`)."""
        request = generated().messages.ListCharactersRequest()
        response = await self._call("ListCharacters", request)
        return [from_message(message) for message in response.characters]

    async def close(self) -> None:
        """Close the channel, if one is open."""
        channel, self._channel, self._stub, self._loop = self._channel, None, None, None
        if channel is not None:
            await channel.close()

    async def _call(self, method: str, request: Any) -> Any:
        try:
            return await getattr(self._stub_for_loop(), method)(request, timeout=self.timeout_s)
        except grpc.aio.AioRpcError as exc:
            # The details stay in the log: they can name internal addresses or carry a server
            # exception's text, and the error's message reaches the job's public events.
            log.warning(
                "character_call_failed",
                extra={"method": method, "code": exc.code().name, "details": exc.details()},
            )
            raise error_from_status(method, exc.code()) from None

    def _stub_for_loop(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._stub is None or self._loop is not loop:
            self._channel = self._open_channel()
            self._stub = generated().services.CharacterServiceStub(self._channel)
            self._loop = loop
        return self._stub

    def _open_channel(self) -> grpc.aio.Channel:
        interceptors: list[Any] | None = None
        if self._tracer_provider is not None:
            factory = otel_grpc().aio_client_interceptors
            interceptors = list(factory(tracer_provider=self._tracer_provider))
        if self._credentials is not None:
            return grpc.aio.secure_channel(
                self.target, self._credentials, options=CHANNEL_OPTIONS, interceptors=interceptors
            )
        return grpc.aio.insecure_channel(
            self.target, options=CHANNEL_OPTIONS, interceptors=interceptors
        )
