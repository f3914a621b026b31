"""Ports: one ``typing.Protocol`` per capability. Adapters live in ``eco2.infrastructure``."""
