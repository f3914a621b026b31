"""The hiredis-packing connections write exactly the bytes redis-py's own packer writes."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import BlockingConnectionPool, ConnectionPool
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.exceptions import DataError

from eco2.infrastructure.redis.packing import (
    HiredisConnection,
    HiredisSSLConnection,
    HiredisUnixConnection,
    pack_with_hiredis,
)

COMMANDS: list[tuple[Any, ...]] = [
    ("XREAD", "COUNT", 500, "BLOCK", 1000, "STREAMS", "eco2:a", "eco2:b", "0-0", "17-3"),
    ("CLIENT ID",),  # a command name with a space is two arguments
    (b"CLIENT UNBLOCK", 12),
    ("SET", "k", "분리배출 방법"),
    ("SET", b"k", bytearray(b"x\x00y"), memoryview(b"mv")),
    ("ZADD", "z", 0.1, "a", 1e20, "b", 3.0, "c", -2.5, "d", float("inf"), "e"),
    ("EVALSHA", "f" * 40, 1, "key", b"\xff\xfe", -7),
    ("SET", "big", "x" * 20_000),  # past redis-py's buffer cut-off: it splits, hiredis does not
]


def _wire(connection: Connection, command: tuple[Any, ...]) -> bytes:
    return b"".join(bytes(part) for part in connection.pack_command(*command))


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: str(c[0]))
def test_packs_the_same_bytes_as_redis_py(command: tuple[Any, ...]) -> None:
    assert _wire(HiredisConnection(), command) == _wire(Connection(), command)


def test_packs_a_command_in_one_buffer() -> None:
    assert len(HiredisConnection().pack_command(*COMMANDS[-1])) == 1


@pytest.mark.parametrize("value", [True, None, object()], ids=["bool", "None", "object"])
def test_refuses_what_redis_py_refuses(value: Any) -> None:
    with pytest.raises(DataError):
        Connection().pack_command("SET", "k", value)
    with pytest.raises(DataError):
        HiredisConnection().pack_command("SET", "k", value)


def test_another_encoding_falls_back_to_redis_py() -> None:
    latin = HiredisConnection(encoding="latin-1")
    expected = _wire(Connection(encoding="latin-1"), ("SET", "k", "café"))
    assert _wire(latin, ("SET", "k", "café")) == expected


@pytest.mark.parametrize(
    ("url", "plain", "packing"),
    [
        ("redis://localhost:6379/0", Connection, HiredisConnection),
        ("rediss://localhost:6380/0", SSLConnection, HiredisSSLConnection),
        ("unix:///tmp/redis.sock", UnixDomainSocketConnection, HiredisUnixConnection),
    ],
)
def test_pools_of_every_scheme_get_a_packing_connection(
    url: str, plain: type[Connection], packing: type[Connection]
) -> None:
    for pool_class in (ConnectionPool, BlockingConnectionPool):
        pool = pool_class.from_url(url)
        assert pool.connection_class is plain
        assert pack_with_hiredis(pool) is pool
        assert pool.connection_class is packing
        assert issubclass(packing, plain)


def test_a_pool_of_another_connection_class_is_left_alone() -> None:
    class Custom(Connection):
        pass

    pool = ConnectionPool(connection_class=Custom)
    assert pack_with_hiredis(pool).connection_class is Custom
