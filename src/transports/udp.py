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
from transports._core.batch import NO_GSO_ERRNOS, BatchMixin, check_segments, segment_control, segments
from transports._core.inet import Family, check_peer, check_source, one_address, resolve
from transports._core.owner import new_socket, pid_global
from transports._core.sockets import check_adoptable, closing_on_error
from transports._core.sockflags import DONTWAIT, NOSIGNAL
from transports._core.validate import check_timeout
from transports.addresses import InetAddress
from transports.ancillary import AncillaryMixin, PacketInfo
from transports.batch import OffloadUnavailable
from transports.errors import AddressError
from transports.flags import SendFlags
from transports.kinds import Kind
from transports.options import OptionSetting
from transports.protocols import Destination

__all__ = ["UDPTransport"]

#: IP's 16-bit length field less the headers: 65535 - 20 (IPv4) - 8 (UDP).
UDP_MAX_IPV4 = 65507
#: IPv6's payload length excludes its own header: 65535 - 8 (UDP).
UDP_MAX_IPV6 = 65527


#: This process's pid, renewed at fork by transports._core.owner: calls in flight carry it.
_PID = pid_global(globals())
#: A flag-free send without a timeout: never blocks, so close() can wake its wait.
_NOWAIT = NOSIGNAL | DONTWAIT


def _inet_sockaddr(address: Destination) -> tuple[Any, ...]:
    """Where a UDP ``send_to`` goes: an InetAddress or a ``(host, port)`` tuple."""
    if isinstance(address, InetAddress):
        return address.to_sockaddr()
    if isinstance(address, tuple) and len(address) == 2:
        return InetAddress(*address).to_sockaddr()
    raise AddressError(f"a UDP transport sends to an InetAddress or a (host, port) tuple, got {address!r}")


class UDPTransport(AncillaryMixin[InetAddress], BatchMixin[InetAddress], network="udp"):
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
        gro: bool = False,
    ) -> Self:
        """Bind a UDP socket to *host*:*port* (port 0: any free one) (:apue:`16.3.4`).

        With ``gro=True`` the socket asks for UDP receive offload
        (``UDP_GRO``, Linux 5.0+): the kernel may hand over several datagrams
        of one sender in one buffer, and ``recv_from``, ``recv`` and
        :meth:`recv_many` split it back, one result per datagram. Where the
        kernel has no ``UDP_GRO`` it raises
        :class:`~transports.batch.OffloadUnavailable`; offload is never
        switched on otherwise.

        A *host* name that resolves to several addresses is refused with
        :class:`~transports.AddressError` listing them (pass one of them, or
        ``family=``); ``""`` binds every local address.
        """
        timeout = check_timeout(timeout)
        fam, sockaddr = one_address(
            resolve(host, port, Kind.DATAGRAM, family, passive=True, network="udp"),
            host,
            port,
            op="bind",
            network="udp",
        )
        where = InetAddress.from_sockaddr(sockaddr).url(cls.network)
        sock = new_socket(fam, Kind.DATAGRAM, tuple(options), where, timeout)
        with closing_on_error(sock, "bind", where):
            sock.bind(sockaddr)
        made = cls(sock)
        if gro:
            try:
                made._enable_gro()
            except BaseException:
                made.close()
                raise
        return made

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
        a non-blocking transport, as it does for :meth:`bind`. A name that
        resolves to several addresses is refused, listing them: a datagram
        socket cannot race them as a TCP connect does.
        """
        timeout = check_timeout(timeout)
        check_peer(host, port, cls.network)
        check_source(source)
        settings = tuple(options)
        fam, sockaddr = one_address(
            resolve(host, port, Kind.DATAGRAM, family, network="udp"),
            host,
            port,
            op="connect to",
            network="udp",
        )
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

        A closed socket is refused with :class:`ValueError`. A socket with
        ``UDP_GRO`` already on keeps it, and its coalesced receives are split.
        """
        check_adoptable(cls, sock, connected=False)
        made = cls(sock)
        made._adopt_gro()  # offload someone already switched on is honoured, never ignored
        return made

    @property
    def max_message_size(self) -> int:
        """The largest UDP payload: 65,507 bytes over IPv4, 65,527 over IPv6."""
        return UDP_MAX_IPV6 if self._sock.family == socket.AF_INET6 else UDP_MAX_IPV4

    def send_to(
        self,
        data: Buffer,
        address: Destination,
        flags: SendFlags = SendFlags.NONE,
        *,
        source: str | PacketInfo | None = None,
    ) -> int:
        """Send one datagram to *address* (an InetAddress or a ``(host, port)`` tuple).

        *source*: the local IP address to send from, on a socket bound to
        every address (see :meth:`send_from`): a server answers from the
        address it was asked on.
        """
        if flags or source is not None or address.__class__ is not InetAddress:
            if source is not None:
                return self.send_from(data, address, source, flags)
            return self._send_to(data, address, flags, _inet_sockaddr)
        # The hot path (_send_waking's first try, written out): one system call, no frame of ours.
        sock = self._sock
        calls = self._calls
        calls.append(_PID)
        target = (address.host, address.port)
        try:
            sent = sock.sendto(data, _NOWAIT, target)
        except BaseException as exc:
            return self._send_failed(exc, data, "send_to", target)
        del calls[-1]
        if self._closed:
            self._settle()
        return sent

    def send_segments(
        self, data: Buffer, segment_size: int, address: Destination | None = None, *, fallback: bool = False
    ) -> int:
        """Send *data* as datagrams of *segment_size* bytes in one system call (:apue:`16.5`).

        The kernel cuts *data* into ``ceil(len(data) / segment_size)``
        datagrams, the last one possibly shorter, and sends them all: UDP
        segmentation offload (``sendmsg`` with a ``UDP_SEGMENT`` control
        message, Linux 4.18+). To *address*, or to the connected peer when it
        is ``None``. Returns the bytes sent (all of *data*).

        Checked before any call (:class:`ValueError`): *data* not empty,
        ``1 <= segment_size <= max_message_size``, *data* no longer than
        ``max_message_size`` and at most
        :data:`~transports.batch.MAX_SEGMENTS` datagrams. Where the platform
        or kernel has no segmentation offload it raises
        :class:`~transports.batch.OffloadUnavailable` and nothing was sent;
        with ``fallback=True`` it sends the datagrams one by one instead
        (:meth:`send_many`), returning the bytes of those sent.
        """
        check_segments(data, segment_size, self.max_message_size)
        target = None if address is None else _inet_sockaddr(address)
        try:
            control = segment_control(segment_size)
            return self._send_segmented(data, control, target)
        except OffloadUnavailable:
            if not fallback:
                raise
        pieces = segments(data, segment_size)
        sent = self.send_many(pieces if address is None else [(piece, address) for piece in pieces])
        return sum(len(piece) for piece in pieces[:sent])

    def _send_segmented(self, data: Buffer, control: list[tuple[int, int, bytes]], target: Any) -> int:
        sock = self._sock
        try:
            if target is None:
                return self._call(NOSIGNAL, sock.sendmsg, [data], control, NOSIGNAL)
            return self._call(NOSIGNAL, sock.sendmsg, [data], control, NOSIGNAL, target)
        except OSError as exc:
            if exc.errno in NO_GSO_ERRNOS:
                raise OffloadUnavailable(
                    f"send_segments {self._where()}: the kernel refused UDP_SEGMENT ({exc.strerror}); "
                    "segmentation offload needs Linux 4.18+ and a device with checksum offload; "
                    "pass fallback=True to send the datagrams one by one",
                    op="send",
                    address=self._where(),
                ) from exc
            raise self._send_error(exc, "send", data) from exc
