"""Pins the public API's static types: mypy must accept every line here as written.

``tests/test_typing.py`` runs mypy on this file; the project's own mypy run
checks it too. Nothing runs at import: the checks live in functions that
are never called, so importing the module has no side effects.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import assert_type

import transports
from transports import (
    Address,
    Datagram,
    DatagramTransport,
    InetAddress,
    Kind,
    Linger,
    Listener,
    MessageTooLarge,
    NamedAddress,
    OptionSetting,
    RecvFlags,
    SendFlags,
    StreamTransport,
    TCPListener,
    TCPTransport,
    Transport,
    TransportError,
    UDPTransport,
    UnexpectedEOF,
    UnixAddress,
    UnixDatagramTransport,
    UnixListener,
    UnixSeqpacketListener,
    UnixSeqpacketTransport,
    UnixStreamTransport,
    UnknownScheme,
)
from transports.options import SO_KEEPALIVE, SO_LINGER, SO_RCVBUF, TCP_NODELAY
from transports.urls import ParsedURL, parse_url


def url_entry_points() -> None:
    assert_type(transports.connect("tcp://127.0.0.1:80"), Transport)
    assert_type(
        transports.connect("unix:///run/app.sock", timeout=5, options=[SO_RCVBUF(1 << 16)]), Transport
    )
    assert_type(transports.listen("tcp://:0"), Listener[Transport])
    assert_type(transports.listen("unix:///run/app.sock").accept(), Transport)
    assert_type(transports.bind("udp://127.0.0.1:0"), Transport)
    assert_type(transports.bind("udp://127.0.0.1:0", kind="datagram"), DatagramTransport)
    # kind= narrows: checked at run time against the URL's scheme.
    assert_type(transports.connect("tcp://127.0.0.1:80", kind="stream"), StreamTransport)
    assert_type(transports.connect("unix:///run/app.sock", kind=Kind.STREAM), StreamTransport)
    assert_type(transports.connect("udp://127.0.0.1:53", kind="datagram"), DatagramTransport)
    assert_type(transports.connect("unixpacket:///run/app.sock", kind="seqpacket"), Transport)
    assert_type(transports.listen("tcp://:0", kind="stream"), Listener[StreamTransport])
    assert_type(transports.listen("tcp://:0", kind="stream").accept(), StreamTransport)
    assert_type(transports.listen("tcp://:0").address, Address)
    transports.connect("tcp://127.0.0.1:80", kind="stream").send_all(b"x")
    transports.connect("udp://127.0.0.1:53", kind="datagram").send_to(b"x", ("127.0.0.1", 53))
    # Listeners are generic in their address type.
    assert_type(TCPListener.listen("127.0.0.1", 0).address.port, int)
    typed: Listener[TCPTransport, InetAddress] = TCPListener.listen("127.0.0.1", 0)
    assert_type(typed.address, InetAddress)
    loose: Listener[StreamTransport] = typed
    assert_type(loose.address, Address)
    assert_type(parse_url("udp6://[::1]:53"), ParsedURL)
    assert_type(parse_url("unixgram://@name").address, InetAddress | UnixAddress)


def socketpair_overloads(kind: Kind, name: str) -> None:
    assert_type(transports.socketpair(), tuple[UnixStreamTransport, UnixStreamTransport])
    assert_type(transports.socketpair("stream"), tuple[UnixStreamTransport, UnixStreamTransport])
    assert_type(transports.socketpair(Kind.STREAM), tuple[UnixStreamTransport, UnixStreamTransport])
    assert_type(transports.socketpair("datagram"), tuple[UnixDatagramTransport, UnixDatagramTransport])
    assert_type(transports.socketpair(Kind.DATAGRAM), tuple[UnixDatagramTransport, UnixDatagramTransport])
    assert_type(transports.socketpair("seqpacket"), tuple[UnixSeqpacketTransport, UnixSeqpacketTransport])
    assert_type(transports.socketpair(Kind.SEQPACKET), tuple[UnixSeqpacketTransport, UnixSeqpacketTransport])
    # A kind known only at run time gives the general protocol.
    assert_type(transports.socketpair(kind), tuple[Transport, Transport])


def typed_constructors(path: str) -> None:
    assert_type(TCPTransport.connect("127.0.0.1", 80, timeout=5, family="ipv6"), TCPTransport)
    assert_type(TCPTransport.connect("example.org", 80, timeout=5, happy_eyeballs_delay=None), TCPTransport)
    assert_type(TCPTransport.connect("example.org", 80, happy_eyeballs_delay=0.1), TCPTransport)
    assert_type(TCPListener.listen("", 0, dual_stack=True), TCPListener)
    assert_type(UDPTransport.bind("127.0.0.1", 0), UDPTransport)
    assert_type(UDPTransport.connect("::1", 53), UDPTransport)
    assert_type(UnixStreamTransport.connect(path), UnixStreamTransport)
    assert_type(UnixStreamTransport.pair(), tuple[UnixStreamTransport, UnixStreamTransport])
    assert_type(UnixListener.listen(UnixAddress(path)), UnixListener)
    assert_type(UnixDatagramTransport.bind(), UnixDatagramTransport)
    assert_type(UnixDatagramTransport.connect(path, local=path), UnixDatagramTransport)
    assert_type(UnixSeqpacketListener.listen(path), UnixSeqpacketListener)
    assert_type(
        UnixSeqpacketTransport.from_socket(socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)),
        UnixSeqpacketTransport,
    )


def listeners(tcp: TCPListener, unix: UnixListener, seqpacket: UnixSeqpacketListener) -> None:
    assert_type(tcp.accept(), TCPTransport)
    assert_type(unix.accept(), UnixStreamTransport)
    assert_type(seqpacket.accept(), UnixSeqpacketTransport)
    assert_type(iter(tcp), Iterator[TCPTransport])
    for conn in unix:
        assert_type(conn, UnixStreamTransport)
    # Each concrete class knows its own address type.
    assert_type(tcp.address, InetAddress)
    assert_type(unix.address, UnixAddress)
    # The listener protocol is covariant: a TCP listener is a listener of transports.
    general: Listener[Transport] = tcp
    streams: Listener[StreamTransport] = unix
    assert_type(general.accept(), Transport)
    assert_type(streams.accept(), StreamTransport)


def concrete_classes_satisfy_the_protocols(
    tcp: TCPTransport,
    udp: UDPTransport,
    unix: UnixStreamTransport,
    unixgram: UnixDatagramTransport,
    seqpacket: UnixSeqpacketTransport,
) -> None:
    streams: list[StreamTransport] = [tcp, unix]
    datagrams: list[DatagramTransport] = [udp, unixgram]
    everything: list[Transport] = [*streams, *datagrams, seqpacket]
    assert_type(everything[0].kind, Kind)
    assert_type(tcp.local_address, InetAddress)
    assert_type(udp.remote_address, InetAddress | None)
    assert_type(unix.local_address, UnixAddress)
    assert_type(unixgram.recv_from(10).address, InetAddress | UnixAddress | NamedAddress)
    assert_type(seqpacket.remote_address, UnixAddress | None)


def data_transfer(t: Transport, s: StreamTransport, d: DatagramTransport, buffer: bytearray) -> None:
    assert_type(t.send(b"x"), int)
    assert_type(t.send(memoryview(b"x"), SendFlags.DONTWAIT), int)
    assert_type(t.send(bytearray(b"x")), int)
    assert_type(t.recv(10), bytes)
    assert_type(t.recv(10, RecvFlags.PEEK | RecvFlags.DONTWAIT), bytes)
    assert_type(t.recv_into(buffer), int)
    assert_type(t.recv_into(memoryview(buffer), 4, RecvFlags.WAITALL), int)
    assert_type(t.timeout, float | None)
    t.timeout = 5
    t.timeout = None
    assert_type(t.local_address, InetAddress | UnixAddress | NamedAddress)
    assert_type(t.remote_address, InetAddress | UnixAddress | NamedAddress | None)
    assert_type(t.closed, bool)
    assert_type(t.fileno(), int)
    assert_type(s.send_all(b"x", SendFlags.MORE), None)
    assert_type(s.recv_exactly(4), bytes)
    assert_type(s.shutdown("write"), None)
    assert_type(d.send_to(b"x", ("127.0.0.1", 53)), int)
    assert_type(d.send_to(b"x", UnixAddress("/run/x.sock")), int)
    assert_type(d.recv_from(100), Datagram)
    assert_type(d.max_message_size, int)
    with t as entered:
        assert_type(entered, Transport)


def narrowing(t: Transport) -> None:
    if isinstance(t, StreamTransport):
        assert_type(t, StreamTransport)
        t.send_all(b"x")
    elif isinstance(t, DatagramTransport):
        assert_type(t, DatagramTransport)
        assert_type(t.recv_from(1).truncated, bool)


def datagrams(d: Datagram) -> None:
    assert_type(d.data, bytes)
    assert_type(d.address, InetAddress | UnixAddress | NamedAddress)
    assert_type(d.truncated, bool)
    assert_type(d.size, int | None)


def flags() -> None:
    assert_type(SendFlags.OOB | SendFlags.MORE, SendFlags)
    assert_type(SendFlags.DONTWAIT | SendFlags.NONE, SendFlags)
    assert_type(RecvFlags.PEEK | RecvFlags.WAITALL, RecvFlags)
    assert_type(RecvFlags.OOB & RecvFlags.PEEK, RecvFlags)


def options(tcp: TCPTransport, udp: UDPTransport, listener: TCPListener) -> None:
    assert_type(tcp.get_option(SO_RCVBUF), int)
    assert_type(tcp.get_option(SO_LINGER), Linger | None)
    assert_type(tcp.get_option(SO_KEEPALIVE), bool)
    assert_type(listener.get_option(SO_RCVBUF), int)
    assert_type(SO_LINGER(Linger(0)), OptionSetting[Linger | None])
    assert_type(SO_LINGER(None), OptionSetting[Linger | None])
    assert_type(TCP_NODELAY(True), OptionSetting[bool])
    tcp.set_option(SO_RCVBUF, 1 << 20)
    tcp.set_option(SO_LINGER, Linger(5))
    tcp.set_option(SO_LINGER, None)
    udp.set_option(SO_RCVBUF, 4096)
    TCPTransport.connect("127.0.0.1", 80, options=[TCP_NODELAY(True), SO_LINGER(None), SO_RCVBUF(4096)])


def addresses(a: Address, inet: InetAddress, unix: UnixAddress) -> None:
    assert_type(inet.host, str)
    assert_type(inet.port, int)
    assert_type(inet.to_sockaddr(), tuple[str, int])
    assert_type(inet.url("udp"), str)
    assert_type(unix.to_sockaddr(), str | bytes)
    assert_type(unix.abstract, bool)
    assert_type(UnixAddress("name", abstract=True), UnixAddress)
    assert_type(InetAddress.from_sockaddr(("::1", 1, 0, 0)), InetAddress)
    assert_type(UnixAddress.from_sockaddr(b"\0name"), UnixAddress)
    if isinstance(a, InetAddress):
        assert_type(a, InetAddress)
    elif isinstance(a, UnixAddress):
        assert_type(a, UnixAddress)
    else:
        assert_type(a, NamedAddress)


def errors(exc: Exception) -> None:
    if isinstance(exc, TransportError):
        assert_type(exc.bytes_sent, int | None)
        assert_type(exc.op, str | None)
        assert_type(exc.partial, bytes | None)
    if isinstance(exc, MessageTooLarge):
        assert_type(exc.limit, int | None)
        assert_type(exc.size, int)
    if isinstance(exc, UnexpectedEOF):
        assert_type(exc.partial, bytes)
        assert_type(exc.expected, int)
    if isinstance(exc, UnknownScheme):
        assert_type(exc.known, tuple[str, ...])
