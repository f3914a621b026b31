"""Fixtures shared by the integration tests: the contract suite's Redis (a key prefix owned by
one test, its keys deleted afterwards) for the other Redis-backed adapters' tests."""

from tests.integration.test_event_stream_contract import redis_env  # noqa: F401
