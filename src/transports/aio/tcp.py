"""Async TCP: the sync :mod:`transports.tcp` classes, waited on by the event loop (:apue:`16.4`, :apue:`16.5`, :apue:`16.8`, :apue:`14.4`).

Name lookups run the sync :func:`transports.tcp.resolve` (in the loop's
executor when the host is a name); the connection is made with
``loop.sock_connect``, one task per attempt when the addresses of a name
race (RFC 8305, scheduled by the ``Race`` both faces share);
listening is the sync ``TCPListener.listen``.
"""

from __future__ import annotations

import asyncio
import functools
import socket
from collections.abc import Iterable
from typing import Any, Self

from transports import tcp as _sync
from transports._core.deadline import Deadline
from transports._core.dial import DEFAULT_DELAY, Attempt, Dial, Race, check_delay
from transports._core.inet import Family, check_peer, check_source, numeric
from transports._core.owner import new_socket
from transports._core.validate import check_timeout
from transports.addresses import InetAddress
from transports.aio._core import off_loop
from transports.aio._listener import AsyncListener
from transports.aio._stream import SendfileOps
from transports.aio._twin import AsyncTwin
from transports.errors import translate_os_error
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
        happy_eyeballs_delay: float | None = DEFAULT_DELAY,
    ) -> Self:
        """Connect to *host*:*port* (:apue:`16.4`, :apue:`16.8`).

        The addresses of a name race as in the sync ``TCPTransport.connect``
        (RFC 8305: interleaved by family, a new attempt every
        *happy_eyeballs_delay* seconds or when the one before fails, the
        first to connect kept, the others cancelled and closed); with
        ``happy_eyeballs_delay=None`` they are tried in turn, each with an
        equal part of what is left (at least two seconds of it). *timeout* is
        one budget for it all, the lookup included, and stays as the
        transport's timeout. Each handshake is awaited with ``loop.sock_connect``;
        cancelling the connect closes every attempt's socket.

        As in the sync twin, port 0 is refused with
        :class:`~transports.AddressError` before any lookup, and
        ``timeout=0`` never waits: it raises :class:`~transports.WouldBlock`
        at once (the handshake needs a round trip). For a transport whose calls
        never wait, connect with a timeout (or ``None``) and then set ``timeout = 0``.
        """
        timeout = check_timeout(timeout)
        delay = check_delay(happy_eyeballs_delay)
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
            lookup = functools.partial(_sync.resolve, host, port, Kind.STREAM, family, network=cls.network)
            try:
                async with asyncio.timeout(deadline.left()):
                    candidates = await off_loop(host, lookup)
            except TimeoutError as exc:
                where = InetAddress(host, port).url(cls.network)
                raise translate_os_error(exc, "resolve", where, timeout=timeout, network=cls.network) from exc
        dial = Dial(candidates, timeout, cls.network, deadline, name=(host, port))
        if delay is not None and len(candidates) > 1:
            sock, won = await _first_to_connect(Race(dial, delay, settings, source))
            return cls._wrap(_sync.TCPTransport._connected(sock, won.sockaddr), timeout)
        loop = asyncio.get_running_loop()
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


async def _first_to_connect(race: Race) -> tuple[socket.socket, Attempt]:
    """Race the attempts of *race* as ``loop.sock_connect`` tasks; the socket of the first to connect.

    The face of :func:`transports._core.eyeballs.connect_first` that waits on
    the event loop. The losers' tasks are cancelled and awaited before their
    sockets are closed (so the loop never watches a closed descriptor), also
    when this coroutine itself is cancelled.
    """
    loop = asyncio.get_running_loop()
    running: dict[asyncio.Task[None], tuple[socket.socket, Attempt]] = {}
    try:
        while True:
            for sock, attempt in race.starting():
                running[loop.create_task(loop.sock_connect(sock, attempt.sockaddr))] = (sock, attempt)
            if not running:
                raise race.dial.error()
            done, _ = await asyncio.wait(running, timeout=race.wait(), return_when=asyncio.FIRST_COMPLETED)
            for task in [t for t in running if t in done]:  # in the order they started
                sock, attempt = running.pop(task)
                failure = task.exception()
                if failure is None:
                    return sock, attempt
                sock.close()
                if not isinstance(failure, OSError):
                    raise failure
                race.failed(attempt, failure)
            if race.expired and running:
                raise race.timed_out(a for _, a in running.values())
    finally:
        if running:
            for task in running:
                task.cancel()
            try:
                await asyncio.wait(running)
            finally:
                for sock, _ in running.values():
                    sock.close()


class TCPListener(AsyncListener[_sync.TCPListener, TCPTransport, InetAddress]):
    """An async listening TCP socket (:apue:`16.4`, :apue:`16.8`, :apue:`14.4`).

    The twin of :class:`transports.TCPListener`: ``await accept()``,
    ``async for conn in listener`` and :meth:`serve`.
    """

    __slots__ = ()
    network = "tcp"
    _transport = TCPTransport
    _sync_class = _sync.TCPListener

    listen = AsyncTwin(_sync.TCPListener.listen)
