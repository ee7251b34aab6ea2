"""A sync transport where an async one is expected, or the reverse, is a type error (:apue:`16.8`).

The two faces share flags, addresses and errors, never their transports:
an aio protocol needs ``__aenter__`` and coroutines, a sync one ``__enter__``
and plain calls, so neither face satisfies the other's protocols.
"""

from __future__ import annotations

import transports
from transports import aio


async def echo(t: aio.StreamTransport) -> None:
    await t.send_all(await t.recv(100))


def echo_sync(t: transports.StreamTransport) -> None:
    t.send_all(t.recv(100))


async def sync_where_async_expected(
    tcp: transports.TCPTransport,
    udp: transports.UDPTransport,
    listener: transports.TCPListener,
    unix: transports.UnixStreamTransport,
) -> None:
    stream: aio.StreamTransport = tcp  # E: assignment
    transport: aio.Transport = udp  # E: assignment
    fd_passing: aio.FdPassing = unix  # E: assignment
    accepting: aio.Listener[aio.Transport] = listener  # E: assignment
    await echo(tcp)  # E: arg-type
    await tcp.recv(100)  # E: misc
    aio.TCPTransport.from_socket(tcp)  # E: arg-type
    pair: tuple[aio.UnixStreamTransport, aio.UnixStreamTransport] = transports.socketpair()  # E: assignment


async def async_where_sync_expected(
    tcp: aio.TCPTransport, udp: aio.UDPTransport, listener: aio.TCPListener
) -> None:
    stream: transports.StreamTransport = tcp  # E: assignment
    transport: transports.Transport = udp  # E: assignment
    accepting: transports.Listener[transports.Transport] = listener  # E: assignment
    echo_sync(tcp)  # E: arg-type
    sync_conn: transports.TCPTransport = await listener.accept()  # E: assignment
    sync_pair: tuple[transports.UnixStreamTransport, ...] = aio.socketpair()  # E: assignment
