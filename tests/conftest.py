"""Shared fixtures: the offline adapters are slow to build (Kiwi, classifier), so build once."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from eco2.application.ports.telemetry import TelemetryConfigPort
from eco2.bootstrap import Application, build_application, build_ports
from eco2.infrastructure.llm.offline_classifier import OfflineIntentClassifier
from eco2.infrastructure.retrieval.retriever import KnowledgeBaseRetriever
from eco2.infrastructure.telemetry.langsmith import NoOpTelemetry
from eco2.pipeline.context import Ports
from eco2.settings import Settings

# The offline answer model defaults to a hosted-model-like pace (0.4 s to the first token, then
# 80 tokens/s); tests run it as fast as possible. Child processes that inherit this environment
# get the same; tests that strip ECO2_* from a child's environment set both variables themselves.
os.environ.setdefault("ECO2_OFFLINE_TTFT_S", "0")
os.environ.setdefault("ECO2_OFFLINE_TOKENS_PER_S", "0")


@pytest.fixture(scope="session")
def offline_ports() -> Ports:
    """Offline adapters exactly as ``eco2 chat`` builds them."""
    return build_ports(Settings())


@pytest.fixture(scope="session")
def retriever(offline_ports: Ports) -> KnowledgeBaseRetriever:
    assert isinstance(offline_ports.retrieval, KnowledgeBaseRetriever)
    return offline_ports.retrieval


@pytest.fixture(scope="session")
def classifier(offline_ports: Ports) -> OfflineIntentClassifier:
    assert isinstance(offline_ports.classifier, OfflineIntentClassifier)
    return offline_ports.classifier


@pytest.fixture
def make_app(offline_ports: Ports) -> Callable[..., Application]:
    """Build an embedded application with some ports replaced by fakes."""

    def make(
        settings: Settings | None = None,
        telemetry: TelemetryConfigPort | None = None,
        **overrides: Any,
    ) -> Application:
        return build_application(
            settings or Settings(),
            ports=replace(offline_ports, **overrides),
            telemetry=telemetry or NoOpTelemetry("test"),
        )

    return make
