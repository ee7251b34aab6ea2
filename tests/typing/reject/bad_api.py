"""Misused entry points, constructors and value types are type errors."""

from __future__ import annotations

import transports
from transports import (
    Datagram,
    InetAddress,
    TCPListener,
    TCPTransport,
    UnixAddress,
    UnixDatagramTransport,
    UnixStreamTransport,
)


def entry_points() -> None:
    transports.socketpair("bogus")  # E: call-overload
    transports.connect(8080)  # E: call-overload
    transports.listen("tcp://:0", backlog="many")  # E: call-overload
    pair: tuple[UnixStreamTransport, UnixStreamTransport] = transports.socketpair("datagram")  # E: assignment


def constructors() -> None:
    TCPTransport.connect("127.0.0.1", "80")  # E: arg-type
    TCPTransport.connect("127.0.0.1", 80, family="ipv5")  # E: arg-type
    TCPTransport.connect("127.0.0.1", 80, happy_eyeballs_delay="0.25")  # E: arg-type
    TCPListener.listen("127.0.0.1")  # E: call-arg
    UnixDatagramTransport.bind(42)  # E: arg-type


def addresses(a: InetAddress, d: Datagram) -> None:
    InetAddress("h", "80")  # E: arg-type
    InetAddress("h")  # E: call-arg
    UnixAddress("name", True)  # E: call-arg
    a.port = 81  # E: misc
    d.data = b""  # E: misc
    port: str = a.port  # E: assignment
