"""In-memory adapters for embedded mode and tests."""
