"""Async TCP: the sync :mod:`transports.tcp` classes, waited on by the event loop (:apue:`16.4`, :apue:`16.5`, :apue:`16.8`, :apue:`14.4`).

Name lookups run the sync :func:`transports.tcp.resolve` (in the loop's
executor when the host is a name); the connection is made with
``loop.sock_connect``; listening is the sync ``TCPListener.listen``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterable
from typing import Any, Self

from transports import tcp as _sync
from transports._core.deadline import Deadline
from transports._core.dial import Dial
from transports._core.inet import Family, check_peer, check_source, numeric
from transports._core.owner import new_socket
from transports._core.validate import check_timeout
from transports.addresses import InetAddress
from transports.aio._core import off_loop
from transports.aio._listener import AsyncListener
from transports.aio._stream import SendfileOps
from transports.aio._twin import AsyncTwin
from transports.kinds import Kind
from transports.options import OptionSetting

__all__ = ["TCPListener", "TCPTransport"]


class TCPTransport(SendfileOps[_sync.TCPTransport, InetAddress]):
    """An async connected TCP socket: a reliable, ordered byte stream (:apue:`16.5`, :apue:`16.8`, :apue:`14.4`).

    The twin of :class:`transports.TCPTransport`: the same flags (``OOB``,
    ``PEEK``, ``WAITALL``, ``DONTWAIT`` ...), errors, addresses and options;
    the data methods are coroutines.

    >>> import asyncio
    >>> from transports import aio
    >>> async def main():
    ...     async with await aio.TCPListener.listen("127.0.0.1", 0) as listener:
    ...         port = listener.address.port
    ...         async with await aio.TCPTransport.connect("127.0.0.1", port, timeout=5) as client:
    ...             async with await listener.accept() as server:
    ...                 await client.send_all(b"ping")
    ...                 return await server.recv_exactly(4)
    >>> asyncio.run(main())
    b'ping'
    """

    __slots__ = ()
    network = "tcp"
    _sync_class = _sync.TCPTransport

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        *,
        timeout: float | None = None,
        family: Family = "any",
        source: InetAddress | None = None,
        options: Iterable[OptionSetting[Any]] = (),
    ) -> Self:
        """Connect to *host*:*port* (:apue:`16.4`, :apue:`16.8`).

        Every resolved address is tried in turn, like the sync
        ``TCPTransport.connect``; *timeout* is one budget shared by them all
        (each gets an equal part of what is left, at least two seconds of it)
        and stays as the transport's timeout. The handshake is awaited with ``loop.sock_connect``.

        As in the sync twin, port 0 is refused with
        :class:`~transports.AddressError` before any lookup, and
        ``timeout=0`` never waits: it raises :class:`~transports.WouldBlock`
        at once (the handshake needs a round trip). For a transport whose calls
        never wait, connect with a timeout (or ``None``) and then set ``timeout = 0``.
        """
        timeout = check_timeout(timeout)
        check_peer(host, port, cls.network)
        check_source(source)
        settings = tuple(options)
        if timeout == 0:
            # Nothing waits, so the sync constructor is the whole story (its WouldBlock included).
            return await cls._made_by(
                _sync.TCPTransport.connect,
                host,
                port,
                family=family,
                source=source,
                timeout=0,
                lookup=host,
                options=settings,
            )
        deadline = Deadline(timeout)  # one budget for the lookup and every address, as the sync twin
        # An IP literal needs no lookup at all; a name is looked up off the loop.
        candidates = numeric(host, port, family)
        if candidates is None:
            candidates = await off_loop(
                host, functools.partial(_sync.resolve, host, port, Kind.STREAM, family, network=cls.network)
            )
        loop = asyncio.get_running_loop()
        dial = Dial(candidates, timeout, cls.network, deadline)
        for attempt in dial:
            sock = new_socket(attempt.family, Kind.STREAM, settings, attempt.where, 0)
            try:
                if source is not None:
                    sock.bind(source.to_sockaddr())
                async with asyncio.timeout(attempt.timeout):
                    await loop.sock_connect(sock, attempt.sockaddr)
            except OSError as exc:  # asyncio.timeout's TimeoutError too: it becomes TransportTimeout
                sock.close()
                dial.failed(attempt, exc)
                continue
            except BaseException:
                sock.close()
                raise
            return cls._wrap(_sync.TCPTransport._connected(sock, attempt.sockaddr), timeout)
        raise dial.error()


class TCPListener(AsyncListener[_sync.TCPListener, TCPTransport, InetAddress]):
    """An async listening TCP socket (:apue:`16.4`, :apue:`16.8`, :apue:`14.4`).

    The twin of :class:`transports.TCPListener`: ``await accept()``,
    ``async for conn in listener`` and :meth:`serve`.
    """

    __slots__ = ()
    network = "tcp"
    _transport = TCPTransport

    listen = AsyncTwin(_sync.TCPListener.listen)
