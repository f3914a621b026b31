"""Adapters for the sub-agents' data sources (local catalogues now; external APIs per provider)."""
