"""The five socket networks, one row each: what a network's name means to a transport class (:apue:`16.2`).

A socket is made by ``socket(domain, type, protocol)``; a network name
("tcp", "unixgram", ...) stands for one such choice, as in Go's ``net``
package. A transport class names its network once
(``class UDPTransport(MessageMixin[InetAddress], network="udp")``) and
receives from this table the socket type it wraps, the families it accepts,
the decoder of the addresses the kernel reports, and, from
:data:`transports.flags.FLAG_TABLE`, the ``MSG_*`` flags it may pass.
Adding a kind is one row here plus its module.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from typing import Any, Final, NamedTuple

from transports.addresses import Address, inet_from_kernel, unix_from_kernel
from transports.kinds import Kind

__all__ = ["NETWORKS", "Network"]

_INET = (socket.AF_INET, socket.AF_INET6)
_UNIX = (getattr(socket, "AF_UNIX", -1),)


class Network(NamedTuple):
    """One network: its kind of socket, the address families it takes, and its address decoder."""

    kind: Kind
    families: tuple[int, ...]
    #: Decodes what ``getsockname``/``getpeername``/``recvfrom`` return (memoised per family).
    address: Callable[[Any], Address]


NETWORKS: Final[Mapping[str, Network]] = {
    "tcp": Network(Kind.STREAM, _INET, inet_from_kernel),
    "udp": Network(Kind.DATAGRAM, _INET, inet_from_kernel),
    "unix": Network(Kind.STREAM, _UNIX, unix_from_kernel),
    "unixgram": Network(Kind.DATAGRAM, _UNIX, unix_from_kernel),
    "unixpacket": Network(Kind.SEQPACKET, _UNIX, unix_from_kernel),
}
