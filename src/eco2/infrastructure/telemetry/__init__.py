"""Tracing adapters: LangSmith run configuration and OpenTelemetry."""
