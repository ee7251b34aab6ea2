"""Async UDP: the sync :class:`transports.UDPTransport`, waited on by the event loop (:apue:`16.5`, :apue:`16.8`, :apue:`14.4`)."""

from __future__ import annotations

from transports import udp as _sync
from transports.addresses import InetAddress
from transports.aio._core import DatagramOps
from transports.aio._twin import AsyncTwin

__all__ = ["UDPTransport"]


class UDPTransport(DatagramOps[_sync.UDPTransport, InetAddress]):
    """An async UDP socket, bound and optionally connected (:apue:`16.5`, :apue:`16.8`, :apue:`14.4`).

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

    bind = AsyncTwin(_sync.UDPTransport.bind)
    connect = AsyncTwin(_sync.UDPTransport.connect)
