"""Operations a transport's kind does not have are type errors (APUE 16.2, 16.5)."""

from __future__ import annotations

import transports
from transports import (
    DatagramTransport,
    Listener,
    StreamTransport,
    TCPListener,
    Transport,
    UDPTransport,
    UnixListener,
    UnixStreamTransport,
)


def stream_only(t: Transport, d: DatagramTransport, u: UDPTransport) -> None:
    t.recv_exactly(4)  # E: attr-defined
    t.send_all(b"x")  # E: attr-defined
    t.shutdown()  # E: attr-defined
    d.recv_exactly(4)  # E: attr-defined
    u.send_all(b"x")  # E: attr-defined
    transports.connect("tcp://127.0.0.1:80").recv_exactly(1)  # E: attr-defined


def datagram_only(s: StreamTransport, unix: UnixStreamTransport) -> None:
    s.send_to(b"x", ("127.0.0.1", 53))  # E: attr-defined
    s.recv_from(100)  # E: attr-defined
    unix.recv_from(100)  # E: attr-defined


def wrong_arguments(s: StreamTransport, t: Transport) -> None:
    s.shutdown("sideways")  # E: arg-type
    t.timeout = "5"  # E: assignment
    t.recv("10")  # E: arg-type


def wrong_kinds(tcp: TCPListener) -> None:
    unix_listener: Listener[UnixStreamTransport] = tcp  # E: assignment
    stream: StreamTransport = UDPTransport.bind("127.0.0.1", 0)  # E: assignment
    listener: UnixListener = transports.listen("unix:///run/app.sock")  # E: assignment
