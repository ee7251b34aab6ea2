"""The three kinds of socket this library offers (:apue:`16.2`).

A socket's *type* fixes what a send and a receive mean: a byte stream with no
boundaries (``SOCK_STREAM``), independent messages with no connection
(``SOCK_DGRAM``), or messages with boundaries over a connection
(``SOCK_SEQPACKET``).
"""

from __future__ import annotations

import enum
import socket

__all__ = ["Kind"]


class Kind(enum.Enum):
    """What a transport's ``send`` and ``recv`` preserve (:apue:`16.2`).

    >>> Kind.STREAM.keeps_boundaries
    False
    >>> Kind.SEQPACKET.connection_oriented
    True
    """

    STREAM = "stream"
    DATAGRAM = "datagram"
    SEQPACKET = "seqpacket"

    @property
    def socket_type(self) -> int:
        """The ``SOCK_*`` constant of this kind."""
        return _SOCKET_TYPES[self]

    @property
    def keeps_boundaries(self) -> bool:
        """Whether one send arrives as one receive (datagram and seqpacket)."""
        return self is not Kind.STREAM

    @property
    def connection_oriented(self) -> bool:
        """Whether the kind needs ``connect``/``accept`` (stream and seqpacket)."""
        return self is not Kind.DATAGRAM


_SOCKET_TYPES = {
    Kind.STREAM: socket.SOCK_STREAM,
    Kind.DATAGRAM: socket.SOCK_DGRAM,
    Kind.SEQPACKET: getattr(socket, "SOCK_SEQPACKET", -1),
}
