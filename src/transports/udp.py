"""UDP: addressed datagrams over IPv4 or IPv6 (:apue:`16.5`).

A :class:`UDPTransport` keeps message boundaries: one send is one datagram,
and a datagram too big for the receive buffer is reported, never cut
silently. A datagram larger than UDP can carry (65,507 bytes of payload
over IPv4, 65,527 over IPv6) raises :class:`~transports.MessageTooLarge`
and nothing is sent.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import Any, Self

from transports._compat import Buffer
from transports._core.inet import Family, check_peer, check_source, resolve
from transports._core.message import MessageMixin
from transports._core.owner import new_socket
from transports._core.sockets import check_adoptable, closing_on_error
from transports._core.validate import check_timeout
from transports.addresses import Datagram, InetAddress
from transports.errors import AddressError
from transports.flags import RecvFlags, SendFlags
from transports.kinds import Kind
from transports.options import OptionSetting
from transports.protocols import Destination

__all__ = ["UDPTransport"]

#: IP's 16-bit length field less the headers: 65535 - 20 (IPv4) - 8 (UDP).
UDP_MAX_IPV4 = 65507
#: IPv6's payload length excludes its own header: 65535 - 8 (UDP).
UDP_MAX_IPV6 = 65527


def _inet_sockaddr(address: Destination) -> tuple[Any, ...]:
    """Where a UDP ``send_to`` goes: an InetAddress or a ``(host, port)`` tuple."""
    if isinstance(address, InetAddress):
        return address.to_sockaddr()
    if isinstance(address, tuple) and len(address) == 2:
        return InetAddress(*address).to_sockaddr()
    raise AddressError(f"a UDP transport sends to an InetAddress or a (host, port) tuple, got {address!r}")


class UDPTransport(MessageMixin[InetAddress], network="udp"):
    """A UDP socket, bound and optionally connected (:apue:`16.5`).

    >>> with UDPTransport.bind("127.0.0.1", 0) as a, UDPTransport.bind("127.0.0.1", 0) as b:
    ...     a.send_to(b"hello", b.local_address)
    ...     b.timeout = 5
    ...     b.recv_from(100).data
    5
    b'hello'
    """

    __slots__ = ()

    @classmethod
    def bind(
        cls,
        host: str,
        port: int,
        *,
        family: Family = "any",
        timeout: float | None = None,
        options: Iterable[OptionSetting[Any]] = (),
    ) -> Self:
        """Bind a UDP socket to *host*:*port* (port 0: any free one) (:apue:`16.3.4`)."""
        timeout = check_timeout(timeout)
        fam, sockaddr = resolve(host, port, Kind.DATAGRAM, family, passive=True, network="udp")[0]
        where = InetAddress.from_sockaddr(sockaddr).url(cls.network)
        sock = new_socket(fam, Kind.DATAGRAM, tuple(options), where, timeout)
        with closing_on_error(sock, "bind", where):
            sock.bind(sockaddr)
        return cls(sock)

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        *,
        family: Family = "any",
        timeout: float | None = None,
        source: InetAddress | None = None,
        options: Iterable[OptionSetting[Any]] = (),
    ) -> Self:
        """Make a UDP socket whose peer is fixed to *host*:*port* (:apue:`16.4`).

        A connected datagram socket sends with plain ``send`` and receives
        only from its peer; ICMP errors (nobody listening) come back as
        :class:`~transports.ConnectionRefused` on a later call.

        Port 0 is refused with :class:`~transports.AddressError` before
        any lookup (it means "any free port" only to :meth:`bind`). No packet
        is exchanged, so the connect itself never waits: ``timeout=0`` gives
        a non-blocking transport, as it does for :meth:`bind`.
        """
        timeout = check_timeout(timeout)
        check_peer(host, port, cls.network)
        check_source(source)
        settings = tuple(options)
        fam, sockaddr = resolve(host, port, Kind.DATAGRAM, family, network="udp")[0]
        target = InetAddress.from_sockaddr(sockaddr)
        where = target.url(cls.network)
        sock = new_socket(fam, Kind.DATAGRAM, settings, where, timeout)
        with closing_on_error(sock, "connect to", where, network=cls.network, remote=target):
            if source is not None:
                sock.bind(source.to_sockaddr())
            sock.connect(sockaddr)
        return cls(sock)

    @classmethod
    def from_socket(cls, sock: socket.socket) -> Self:
        """Wrap a UDP :class:`socket.socket`, connected or not, taking ownership of it (:apue:`16.2`).

        A closed socket is refused with :class:`ValueError`.
        """
        check_adoptable(cls, sock, connected=False)
        return cls(sock)

    @property
    def max_message_size(self) -> int:
        """The largest UDP payload: 65,507 bytes over IPv4, 65,527 over IPv6."""
        return UDP_MAX_IPV6 if self._sock.family == socket.AF_INET6 else UDP_MAX_IPV4

    def send_to(self, data: Buffer, address: Destination, flags: SendFlags = SendFlags.NONE) -> int:
        """Send one datagram to *address* (an InetAddress or a ``(host, port)`` tuple)."""
        return self._send_to(data, address, flags, _inet_sockaddr)

    def recv_from(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> Datagram:
        """Receive one datagram and its sender; ``truncated`` says if it did not fit."""
        return self._recv_datagram(max_bytes, flags)
