"""Eco² chat: a Korean recycling assistant served as an observable LLM multi-agent chat service."""

__version__ = "0.1.0"
