"""Option values of the wrong type are type errors (APUE 16.6 Socket Options)."""

from __future__ import annotations

from transports import Linger, TCPTransport
from transports.options import SO_KEEPALIVE, SO_LINGER, SO_RCVBUF, TCP_NODELAY


def wrong_values(t: TCPTransport) -> None:
    # set_option(option: SocketOption[T], value: T): the two arguments give T
    # conflicting values, which mypy reports as a failed inference.
    t.set_option(SO_RCVBUF, "big")  # E: misc
    t.set_option(SO_LINGER, 5)  # E: misc
    t.set_option(TCP_NODELAY, None)  # E: misc
    # Calling the option checks the value against its one type parameter.
    SO_LINGER(True)  # E: arg-type
    SO_KEEPALIVE(1)  # E: arg-type
    SO_RCVBUF(1.5)  # E: arg-type
    Linger("5")  # E: arg-type


def wrong_results(t: TCPTransport) -> None:
    size: str = t.get_option(SO_RCVBUF)  # E: assignment
    t.get_option(SO_LINGER).seconds  # E: union-attr
    TCPTransport.connect("127.0.0.1", 80, options=[SO_RCVBUF])  # E: list-item
