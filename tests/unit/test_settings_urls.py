"""Service URLs are checked when the settings are read: what the clients accept passes, the rest
is refused naming the variable and never repeating the value (it may hold a password)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from eco2.settings import ServingSettings

ACCEPTED = [
    ("ECO2_REDIS_URL", "redis://:pw@127.0.0.1:6379/0"),
    ("ECO2_REDIS_URL", "rediss://cache.internal:6380/1"),
    ("ECO2_REDIS_URL", "redis:///0"),  # redis-py: localhost
    ("ECO2_REDIS_URL", "unix:///run/redis.sock?db=0"),
    ("ECO2_AMQP_URL", "amqps://user:pw@mq.internal:5671/vhost?heartbeat=30"),
    ("ECO2_DATABASE_URL", "postgresql://user:pw@db:5432/eco2"),
    ("ECO2_DATABASE_URL", "postgresql:///eco2?host=/var/run/postgresql"),
    ("ECO2_DATABASE_URL", "postgresql://h1:5432,h2:5432/eco2?target_session_attrs=read-write"),
    ("ECO2_DATABASE_URL", "host=127.0.0.1 dbname=eco2"),
]
REFUSED = [
    ("ECO2_REDIS_URL", "localhost:6379", "the scheme must be"),
    ("ECO2_REDIS_URL", "redis://secret-pw@h:port/0", "not a URL"),
    ("ECO2_AMQP_URL", "rabbitmq", "the scheme must be"),
    ("ECO2_AMQP_URL", "amqp://secret-pw@/", "names no host"),
    ("ECO2_DATABASE_URL", "secret-pw", "not a PostgreSQL URL"),
]


@pytest.mark.parametrize(("variable", "value"), ACCEPTED)
def test_urls_the_clients_accept_are_accepted(variable: str, value: str) -> None:
    ServingSettings.model_validate({variable: value})


@pytest.mark.parametrize(("variable", "value", "problem"), REFUSED)
def test_other_urls_are_refused_without_repeating_them(
    variable: str, value: str, problem: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        ServingSettings.model_validate({variable: value})
    [error] = refused.value.errors(include_input=False)
    assert error["loc"] == (variable,) and problem in error["msg"]
    assert "secret-pw" not in error["msg"]


@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_database_url_means_unset(blank: str) -> None:
    assert ServingSettings.model_validate({"ECO2_DATABASE_URL": blank}).database_url is None
