"""Pins the static types of :mod:`transports.aio`: mypy must accept every line here as written.

The async twin of ``accept.py``. Whatever waits is a coroutine (``await``
gives the sync face's result type); whatever never waits (``pair``,
``socketpair``, ``close``, ``shutdown``, addresses, options) is a plain
call with the same type as on the sync face. ``tests/test_typing.py`` runs
mypy on this file; nothing runs at import (the checks are functions that
are never called).
"""

from __future__ import annotations

import io
import pathlib
import socket
from collections.abc import Coroutine
from typing import Any, assert_type

from transports import (
    Address,
    Credentials,
    Datagram,
    InetAddress,
    Kind,
    Linger,
    NamedAddress,
    ReceivedFds,
    RecvFlags,
    SendFlags,
    UnixAddress,
    aio,
)
from transports.options import SO_LINGER, SO_RCVBUF, TCP_NODELAY


def discard(coroutine: Coroutine[Any, Any, object]) -> None:
    """Close a coroutine that was made only to have its type checked."""
    coroutine.close()


async def url_entry_points() -> None:
    assert_type(await aio.connect("tcp://127.0.0.1:80"), aio.Transport)
    assert_type(
        await aio.connect("unix:///run/app.sock", timeout=5, options=[SO_RCVBUF(1 << 16)]), aio.Transport
    )
    assert_type(await aio.listen("tcp://:0", backlog=16), aio.Listener[aio.Transport])
    assert_type(await aio.listen("unix:///run/app.sock", mode=0o660), aio.Listener[aio.Transport])
    assert_type(await (await aio.listen("tcp://:0")).accept(), aio.Transport)
    assert_type(await aio.bind("udp://127.0.0.1:0", kind="datagram"), aio.DatagramTransport)
    assert_type(await aio.bind("unixgram://", mode=None, timeout=None), aio.Transport)
    assert_type(await aio.connect("tcp://127.0.0.1:80", kind="stream"), aio.StreamTransport)
    assert_type(await aio.connect("udp://127.0.0.1:53", kind=Kind.DATAGRAM), aio.DatagramTransport)
    assert_type(await aio.listen("tcp://:0", kind="stream"), aio.Listener[aio.StreamTransport])
    assert_type((await aio.listen("tcp://:0")).address, Address)
    assert_type((await aio.TCPListener.listen("127.0.0.1", 0)).address.port, int)
    typed: aio.Listener[aio.TCPTransport, InetAddress] = await aio.TCPListener.listen("127.0.0.1", 0)
    assert_type(typed.address, InetAddress)
    # Not awaited, each is a coroutine that gives the same type.
    discard(assert_type(aio.connect("tcp://127.0.0.1:80"), Coroutine[Any, Any, aio.Transport]))
    discard(assert_type(aio.listen("tcp://:0"), Coroutine[Any, Any, aio.Listener[aio.Transport]]))


def socketpair_overloads(kind: Kind) -> None:
    # A socketpair never waits: a plain call, the same overloads as the sync one.
    assert_type(aio.socketpair(), tuple[aio.UnixStreamTransport, aio.UnixStreamTransport])
    assert_type(aio.socketpair("stream"), tuple[aio.UnixStreamTransport, aio.UnixStreamTransport])
    assert_type(aio.socketpair(Kind.STREAM), tuple[aio.UnixStreamTransport, aio.UnixStreamTransport])
    assert_type(aio.socketpair("datagram"), tuple[aio.UnixDatagramTransport, aio.UnixDatagramTransport])
    assert_type(aio.socketpair(Kind.DATAGRAM), tuple[aio.UnixDatagramTransport, aio.UnixDatagramTransport])
    assert_type(aio.socketpair("seqpacket"), tuple[aio.UnixSeqpacketTransport, aio.UnixSeqpacketTransport])
    assert_type(aio.socketpair(Kind.SEQPACKET), tuple[aio.UnixSeqpacketTransport, aio.UnixSeqpacketTransport])
    assert_type(aio.socketpair(kind), tuple[aio.Transport, aio.Transport])
    assert_type(aio.UnixStreamTransport.pair(), tuple[aio.UnixStreamTransport, aio.UnixStreamTransport])
    assert_type(aio.UnixDatagramTransport.pair(), tuple[aio.UnixDatagramTransport, aio.UnixDatagramTransport])
    assert_type(
        aio.UnixSeqpacketTransport.pair(), tuple[aio.UnixSeqpacketTransport, aio.UnixSeqpacketTransport]
    )


async def typed_constructors(path: str, where: pathlib.Path) -> None:
    # Written out (TCP, Unix connect) or made from the sync constructor (AsyncTwin): the same types.
    assert_type(
        await aio.TCPTransport.connect(
            "127.0.0.1", 80, timeout=5, family="ipv6", source=InetAddress("::1", 0)
        ),
        aio.TCPTransport,
    )
    assert_type(await aio.TCPListener.listen("", 0, backlog=8, dual_stack=True), aio.TCPListener)
    assert_type(await aio.UDPTransport.bind("127.0.0.1", 0, family="ipv4"), aio.UDPTransport)
    assert_type(await aio.UDPTransport.connect("::1", 53, timeout=1.5), aio.UDPTransport)
    assert_type(await aio.UnixStreamTransport.connect(path, timeout=None), aio.UnixStreamTransport)
    assert_type(await aio.UnixStreamTransport.connect(where), aio.UnixStreamTransport)
    assert_type(await aio.UnixListener.listen(UnixAddress(path), mode=0o600), aio.UnixListener)
    assert_type(await aio.UnixListener.listen(path, allowed_uids={0, 1000}), aio.UnixListener)
    assert_type(await aio.UnixDatagramTransport.bind(), aio.UnixDatagramTransport)
    assert_type(await aio.UnixDatagramTransport.bind(where, mode=None), aio.UnixDatagramTransport)
    assert_type(await aio.UnixDatagramTransport.connect(path, local=path), aio.UnixDatagramTransport)
    assert_type(await aio.UnixSeqpacketTransport.connect(path), aio.UnixSeqpacketTransport)
    assert_type(await aio.UnixSeqpacketListener.listen(path), aio.UnixSeqpacketListener)
    # Both kinds of constructor are coroutine functions, so an un-awaited call is a coroutine.
    discard(assert_type(aio.TCPTransport.connect("127.0.0.1", 80), Coroutine[Any, Any, aio.TCPTransport]))
    discard(
        assert_type(
            aio.TCPTransport.connect("example.org", 80, happy_eyeballs_delay=0.3),
            Coroutine[Any, Any, aio.TCPTransport],
        )
    )
    discard(assert_type(aio.UDPTransport.bind("127.0.0.1", 0), Coroutine[Any, Any, aio.UDPTransport]))
    discard(assert_type(aio.UnixListener.listen(path), Coroutine[Any, Any, aio.UnixListener]))
    # Adopting a socket never waits.
    assert_type(aio.TCPTransport.from_socket(socket.socket()), aio.TCPTransport)
    assert_type(
        aio.UnixSeqpacketTransport.from_socket(socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)),
        aio.UnixSeqpacketTransport,
    )


async def stream_handler(conn: aio.StreamTransport) -> None:
    await conn.send_all(b"hello")


async def tcp_handler(conn: aio.TCPTransport) -> bool:
    return await conn.recv(1) == b""


async def listeners(
    tcp: aio.TCPListener, unix: aio.UnixListener, seqpacket: aio.UnixSeqpacketListener
) -> None:
    assert_type(await tcp.accept(), aio.TCPTransport)
    assert_type(await unix.accept(), aio.UnixStreamTransport)
    assert_type(await seqpacket.accept(), aio.UnixSeqpacketTransport)
    discard(assert_type(tcp.accept(), Coroutine[Any, Any, aio.TCPTransport]))
    assert_type(await anext(tcp), aio.TCPTransport)
    async for conn in tcp:
        assert_type(conn, aio.TCPTransport)
    async for unix_conn in unix:
        assert_type(unix_conn, aio.UnixStreamTransport)
    async for packet_conn in seqpacket:
        assert_type(packet_conn, aio.UnixSeqpacketTransport)
    # Each concrete class knows its own address type.
    assert_type(tcp.address, InetAddress)
    assert_type(unix.address, UnixAddress)
    # serve takes a handler of the connection type or of anything wider, whatever it returns.
    await tcp.serve(tcp_handler)
    await tcp.serve(stream_handler)
    await unix.serve(stream_handler)
    # The listener protocol is covariant: a TCP listener is a listener of transports.
    general: aio.Listener[aio.Transport] = tcp
    streams: aio.Listener[aio.StreamTransport] = unix
    assert_type(await general.accept(), aio.Transport)
    assert_type(await streams.accept(), aio.StreamTransport)
    async for any_conn in general:
        assert_type(any_conn, aio.Transport)
    assert_type(general.address, InetAddress | UnixAddress | NamedAddress)


def concrete_classes_satisfy_the_protocols(
    tcp: aio.TCPTransport,
    udp: aio.UDPTransport,
    unix: aio.UnixStreamTransport,
    unixgram: aio.UnixDatagramTransport,
    seqpacket: aio.UnixSeqpacketTransport,
) -> None:
    streams: list[aio.StreamTransport] = [tcp, unix]
    datagrams: list[aio.DatagramTransport] = [udp, unixgram]
    everything: list[aio.Transport] = [*streams, *datagrams, seqpacket]
    zero_copy: list[aio.SendfileCapable] = [tcp, unix]
    fd_passing: list[aio.FdPassing] = [unix, unixgram, seqpacket]
    assert_type(everything[0].kind, Kind)
    assert_type(zero_copy[0], aio.SendfileCapable)
    assert_type(fd_passing[0], aio.FdPassing)
    assert_type(tcp.local_address, InetAddress)
    assert_type(tcp.remote_address, InetAddress | None)
    assert_type(udp.remote_address, InetAddress | None)
    assert_type(unix.local_address, UnixAddress)
    assert_type(unixgram.local_address, UnixAddress)
    assert_type(seqpacket.remote_address, UnixAddress | None)
    assert_type(seqpacket.max_message_size, int)
    assert_type(tcp.raw_socket, socket.socket)


async def data_transfer(
    t: aio.Transport, s: aio.StreamTransport, d: aio.DatagramTransport, buffer: bytearray
) -> None:
    assert_type(await t.send(b"x"), int)
    assert_type(await t.send(memoryview(b"x"), SendFlags.DONTWAIT), int)
    assert_type(await t.send(bytearray(b"x")), int)
    assert_type(await t.recv(10), bytes)
    assert_type(await t.recv(10, RecvFlags.PEEK | RecvFlags.DONTWAIT), bytes)
    assert_type(await t.recv_into(buffer), int)
    assert_type(await t.recv_into(memoryview(buffer), 4, RecvFlags.WAITALL), int)
    discard(assert_type(t.recv(10), Coroutine[Any, Any, bytes]))
    # What never waits is a plain call. The addresses, timeout, closed and fileno come from the
    # base both faces' protocols share (transports._handles), pinned once in accept.py.
    assert_type(t.close(), None)
    t.timeout = 0
    assert_type(await s.send_all(b"x", SendFlags.MORE), None)
    assert_type(await s.recv_exactly(4), bytes)
    assert_type(s.shutdown("write"), None)
    assert_type(s.last_bytes_sent, int | None)
    assert_type(await d.send_to(b"x", ("127.0.0.1", 53)), int)
    assert_type(await d.send_to(b"x", UnixAddress("/run/x.sock"), SendFlags.DONTWAIT), int)
    assert_type(await d.send_to(b"x", "udp://127.0.0.1:53"), int)
    assert_type(await d.recv_from(100), Datagram)
    assert_type(d.max_message_size, int)


async def datagrams(d: aio.DatagramTransport, udp: aio.UDPTransport) -> None:
    got = await d.recv_from(100, RecvFlags.PEEK)
    assert_type(got.data, bytes)
    assert_type(got.address, InetAddress | UnixAddress | NamedAddress)
    assert_type(got.truncated, bool)
    assert_type(got.size, int | None)
    assert_type((await udp.recv_from(100)).address, InetAddress | UnixAddress | NamedAddress)


async def files(
    tcp: aio.TCPTransport, unix: aio.UnixStreamTransport, z: aio.SendfileCapable, path: pathlib.Path
) -> None:
    with io.BytesIO() as memory, path.open("rb") as source:
        assert_type(await tcp.sendfile(path), int)
        assert_type(await tcp.sendfile("data.bin", 10, 100, headers=b"head", trailers=b"tail"), int)
        assert_type(await unix.sendfile(source, fallback=False, progress=print), int)
        assert_type(await z.sendfile(source.fileno()), int)
        assert_type(await tcp.recv_into_file(path), int)
        assert_type(await unix.recv_into_file(memory, 100, fallback=True), int)
        assert_type(await z.recv_into_file(1, None, progress=None), int)
    discard(assert_type(tcp.sendfile(path), Coroutine[Any, Any, int]))


async def descriptors(
    unix: aio.UnixStreamTransport,
    unixgram: aio.UnixDatagramTransport,
    seqpacket: aio.UnixSeqpacketTransport,
    f: aio.FdPassing,
    sock: socket.socket,
) -> None:
    assert_type(await unix.send_fds(b"x", [0, sock, unixgram]), int)
    assert_type(await unixgram.send_fds(b"x", (1,), SendFlags.NONE, address="/run/x.sock"), int)
    assert_type(await seqpacket.send_fds(b"x", iter([2])), int)
    assert_type(await f.send_fds(b"x", [sock], address=UnixAddress("/run/x.sock")), int)
    received = await unix.recv_fds(100, 4)
    assert_type(received, ReceivedFds)
    assert_type(received.data, bytes)
    assert_type(received.fds, tuple[int, ...])
    assert_type(received.truncated, bool)
    assert_type(received.address, UnixAddress | None)
    assert_type(await f.recv_fds(100, 1, RecvFlags.PEEK), ReceivedFds)
    # The kernel kept the credentials at connect time: nothing waits.
    assert_type(unix.peer_credentials(), Credentials)
    assert_type(f.peer_credentials().uid, int)


async def scoped(
    t: aio.Transport,
    tcp: aio.TCPTransport,
    listener: aio.TCPListener,
    general: aio.Listener[aio.StreamTransport],
) -> None:
    # __aenter__ gives the object itself, with its own type.
    async with t as entered, tcp as conn, listener as same, general as protocol_listener:
        assert_type(entered, aio.Transport)
        assert_type(conn, aio.TCPTransport)
        assert_type(same, aio.TCPListener)
        assert_type(protocol_listener, aio.Listener[aio.StreamTransport])
    a, b = aio.socketpair("datagram")
    async with a, b:
        assert_type(await a.send(b"x"), int)
        assert_type(await b.recv_from(10), Datagram)
    async with await aio.TCPListener.listen("127.0.0.1", 0) as made:
        assert_type(made, aio.TCPListener)
        async with await aio.TCPTransport.connect("127.0.0.1", made.address.port) as client:
            assert_type(client, aio.TCPTransport)
    async with await aio.connect("tcp://127.0.0.1:80") as from_url:
        assert_type(from_url, aio.Transport)


def narrowing(t: aio.Transport) -> None:
    if isinstance(t, aio.StreamTransport):
        assert_type(t, aio.StreamTransport)
        discard(assert_type(t.send_all(b"x"), Coroutine[Any, Any, None]))
    elif isinstance(t, aio.DatagramTransport):
        assert_type(t, aio.DatagramTransport)
    if isinstance(t, aio.FdPassing):
        assert_type(t.peer_credentials(), Credentials)
    if isinstance(t, aio.TCPTransport):
        assert_type(t.local_address, InetAddress)


def options(tcp: aio.TCPTransport, udp: aio.UDPTransport, listener: aio.TCPListener) -> None:
    assert_type(tcp.get_option(SO_RCVBUF), int)
    assert_type(tcp.get_option(SO_LINGER), Linger | None)
    assert_type(listener.get_option(SO_RCVBUF), int)
    tcp.set_option(SO_LINGER, Linger(0))
    tcp.set_option(TCP_NODELAY, True)
    udp.set_option(SO_RCVBUF, 4096)
    listener.set_option(SO_RCVBUF, 1 << 20)
    discard(
        assert_type(
            aio.TCPTransport.connect("127.0.0.1", 80, options=[TCP_NODELAY(True), SO_LINGER(None)]),
            Coroutine[Any, Any, aio.TCPTransport],
        )
    )
