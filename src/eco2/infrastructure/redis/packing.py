"""Redis connections that pack commands with hiredis, as redis-py's synchronous client does.

redis-py's asyncio connections build every command in Python, joining the growing buffer once
per argument; its synchronous connections hand the arguments to ``hiredis.pack_command`` when
hiredis is installed. The difference matters for the API's shared stream reader: one ``XREAD``
names every followed job's stream and position, and over 500 streams packing it cost ~1.7 ms
in Python against ~0.12 ms in hiredis, up to a few hundred times a second. Replies are parsed
by hiredis either way (redis-py's default parser when it is installed).
"""

from __future__ import annotations

from typing import Any

import hiredis
from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    ConnectionPool,
    SSLConnection,
    UnixDomainSocketConnection,
)
from redis.exceptions import DataError


class _HiredisPacking(AbstractConnection):
    """Packs with ``hiredis.pack_command`` (same bytes as redis-py's packer, made in C)."""

    def pack_command(self, *args: Any) -> list[bytes]:
        """One buffer holding the command in the Redis protocol."""
        if self.encoder.encoding.lower().replace("-", "") != "utf8":  # hiredis encodes UTF-8
            return super().pack_command(*args)
        first = args[0]
        if isinstance(first, str):  # "CLIENT ID" is two arguments to the server
            args = (*first.encode().split(), *args[1:])
        elif b" " in first:
            args = (*first.split(), *args[1:])
        if not _PLAIN.issuperset(map(type, args)):  # floats, buffers, bools: as redis-py does
            if any(isinstance(arg, bool) for arg in args):  # redis-py refuses them
                raise DataError("Invalid input of type: 'bool'; convert to bytes, str or a number")
            args = tuple(_plain(arg) for arg in args)
        try:
            return [hiredis.pack_command(args)]
        except TypeError as exc:
            raise DataError(str(exc)) from exc


_PLAIN = frozenset({str, bytes, int})  # packed by hiredis exactly as redis-py packs them


def _plain(arg: Any) -> Any:
    if isinstance(arg, (bytearray, memoryview)):
        return bytes(arg)
    if isinstance(arg, float):  # as redis-py writes a float
        return repr(arg)
    return arg


class HiredisConnection(_HiredisPacking, Connection):
    """A TCP connection packing with hiredis."""


class HiredisSSLConnection(_HiredisPacking, SSLConnection):
    """A TLS connection packing with hiredis."""


class HiredisUnixConnection(_HiredisPacking, UnixDomainSocketConnection):
    """A Unix socket connection packing with hiredis."""


_PACKING: dict[type[AbstractConnection], type[AbstractConnection]] = {
    Connection: HiredisConnection,
    SSLConnection: HiredisSSLConnection,
    UnixDomainSocketConnection: HiredisUnixConnection,
}


def pack_with_hiredis(pool: ConnectionPool) -> ConnectionPool:
    """Make the connections ``pool`` opens from now on pack with hiredis; returns ``pool``.

    A pool of a connection class other than redis-py's three is left as it is.
    """
    pool.connection_class = _PACKING.get(pool.connection_class, pool.connection_class)
    return pool
