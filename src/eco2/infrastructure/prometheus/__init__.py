"""Metrics adapters: Prometheus (prometheus_client) and NoOp."""
