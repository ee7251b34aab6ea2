"""Async UDP: the sync :class:`transports.UDPTransport`, waited on by the event loop (APUE 16.5, 16.8, 14.4)."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any, Self

from transports import udp as _sync
from transports._core.validate import check_timeout
from transports.addresses import InetAddress
from transports.aio._core import DatagramOps, off_loop
from transports.options import OptionSetting
from transports.tcp import Family

__all__ = ["UDPTransport"]


class UDPTransport(DatagramOps[_sync.UDPTransport, InetAddress]):
    """An async UDP socket, bound and optionally connected (APUE 16.5 Data Transfer, 16.8, 14.4).

    The twin of :class:`transports.UDPTransport`: one send is one datagram;
    one that does not fit the receive buffer is reported, never cut silently.

    >>> import asyncio
    >>> from transports import aio
    >>> async def main():
    ...     async with await aio.UDPTransport.bind("127.0.0.1", 0, timeout=5) as a:
    ...         async with await aio.UDPTransport.bind("127.0.0.1", 0, timeout=5) as b:
    ...             await a.send_to(b"hello", b.local_address)
    ...             return (await b.recv_from(100)).data
    >>> asyncio.run(main())
    b'hello'
    """

    __slots__ = ()
    network = "udp"
    _sync_class = _sync.UDPTransport

    @classmethod
    async def bind(
        cls,
        host: str,
        port: int,
        *,
        family: Family = "any",
        timeout: float | None = None,
        options: Iterable[OptionSetting[Any]] = (),
    ) -> Self:
        """Bind a UDP socket to *host*:*port* (port 0: any free one) (APUE 16.3.4, 16.8)."""
        timeout = check_timeout(timeout)
        make = functools.partial(
            _sync.UDPTransport.bind, host, port, family=family, timeout=0, options=tuple(options)
        )
        return cls._wrap(await off_loop(host, make, closes=True), timeout)

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        *,
        family: Family = "any",
        timeout: float | None = None,
        source: InetAddress | None = None,
        options: Iterable[OptionSetting[Any]] = (),
    ) -> Self:
        """Make a UDP socket whose peer is fixed to *host*:*port* (APUE 16.4, 16.8).

        No packet is exchanged, so nothing is awaited but a name lookup, and
        ``timeout=0`` simply makes every later call non-blocking. As in the
        sync twin, port 0 is refused with :class:`~transports.errors.AddressError`.
        """
        timeout = check_timeout(timeout)
        make = functools.partial(
            _sync.UDPTransport.connect,
            host,
            port,
            family=family,
            timeout=0,
            source=source,
            options=tuple(options),
        )
        return cls._wrap(await off_loop(host, make, closes=True), timeout)
