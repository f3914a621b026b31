"""The generated protobuf/gRPC modules, loaded by name, and message ↔ domain conversions.

The modules are imported with :func:`importlib.import_module` so that type checkers never
analyse generated code (it is excluded from mypy and ruff): they are typed ``Any`` here and
everything past this module works with domain models.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from typing import Any

from eco2.domain.knowledge import Character

GENERATED_PACKAGE = "eco2.infrastructure.integrations.character_grpc._generated"
SERVICE_NAME = "eco2.character.v1.CharacterService"
"""The fully-qualified service name (as the health service and interceptors see it)."""


@dataclass(frozen=True, slots=True)
class Generated:
    """The generated modules.

    Attributes:
        messages: ``character_pb2`` (message classes).
        services: ``character_pb2_grpc`` (stub, ``add_CharacterServiceServicer_to_server``).
    """

    messages: Any
    services: Any


@cache
def generated() -> Generated:
    """Import the generated modules once.

    Returns:
        The two modules.

    Raises:
        ImportError: They were not generated (the package was not built with ``setup.py``);
            the message says how to generate them.
    """
    try:
        messages = importlib.import_module(f"{GENERATED_PACKAGE}.character_pb2")
        services = importlib.import_module(f"{GENERATED_PACKAGE}.character_pb2_grpc")
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith(GENERATED_PACKAGE):
            raise
        raise ImportError(
            "the character service's gRPC modules are not generated: reinstall the package "
            "(pip install -e .) or run `make proto`"
        ) from exc
    return Generated(messages=messages, services=services)


def otel_grpc() -> Any:
    """``opentelemetry.instrumentation.grpc`` (its interceptor factories are untyped)."""
    return importlib.import_module("opentelemetry.instrumentation.grpc")


def to_message(character: Character) -> Any:
    """A ``Character`` message for a domain character."""
    return generated().messages.Character(
        id=character.id,
        name=character.name,
        english_name=character.english_name,
        categories=list(character.categories),
        personality=character.personality,
        catchphrase=character.catchphrase,
        description=character.description,
        tip=character.tip,
    )


def from_message(message: Any) -> Character:
    """The domain character for a ``Character`` message."""
    return Character(
        id=str(message.id),
        name=str(message.name),
        english_name=str(message.english_name),
        categories=tuple(str(c) for c in message.categories),
        personality=str(message.personality),
        catchphrase=str(message.catchphrase),
        description=str(message.description),
        tip=str(message.tip),
    )
