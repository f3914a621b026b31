"""Redis adapters for distributed mode: job event streams (DESIGN.md §4)."""
