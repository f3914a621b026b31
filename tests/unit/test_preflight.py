"""The start-up check names each service by an address that never shows its credentials."""

from __future__ import annotations

import pytest

from eco2.bootstrap.preflight import _reason, address_of


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:pw@cache:6379/0", "cache:6379"),
        ("redis:///0", "localhost"),
        ("unix:///run/redis.sock", "/run/redis.sock"),
        ("amqp://user:pw@mq:5672/vhost", "mq:5672"),
        ("postgresql://user:pw@db:5432/eco2", "db:5432"),
        ("postgresql://u:pw@h1:5432,h2:5433/eco2", "h1:5432,h2:5433"),
        ("postgresql:///eco2?host=/var/run/postgresql", "/var/run/postgresql"),
        ("host=10.0.0.1 port=6432 dbname=eco2 password=pw", "10.0.0.1:6432"),
        ("redis://h:notaport/0", "the configured address"),
    ],
)
def test_the_address_shown_has_no_credentials(url: str, shown: str) -> None:
    assert address_of(url) == shown


def test_a_reason_quoting_the_password_is_redacted() -> None:
    reason = _reason(
        ConnectionError("auth failed for amqp://guest:s3cret@mq/"), "amqp://guest:s3cret@mq/"
    )
    assert "s3cret" not in reason and "***" in reason
