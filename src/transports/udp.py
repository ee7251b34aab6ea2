"""UDP: addressed datagrams over IPv4 or IPv6 (APUE 16.5 Data Transfer).

A :class:`UDPTransport` keeps message boundaries: one send is one datagram,
and a datagram too big for the receive buffer is reported, never cut
silently. A datagram larger than UDP can carry (65,507 bytes of payload
over IPv4, 65,527 over IPv6) raises :class:`~transports.errors.MessageTooLarge`
and nothing is sent.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import Any, Self

from transports._compat import Buffer
from transports._core.message import MessageMixin
from transports._core.owner import new_socket
from transports._core.validate import check_timeout
from transports.addresses import Address, Datagram, InetAddress, inet_from_kernel
from transports.errors import AddressError, TransportError, translate_os_error
from transports.flags import RecvFlags, SendFlags, allowed_masks
from transports.kinds import Kind
from transports.options import OptionSetting
from transports.tcp import Family, _check_source, check_adoptable, check_peer, resolve

__all__ = ["UDPTransport"]

_NOSIGNAL = int(getattr(socket, "MSG_NOSIGNAL", 0))
#: IP's 16-bit length field less the headers: 65535 - 20 (IPv4) - 8 (UDP).
UDP_MAX_IPV4 = 65507
#: IPv6's payload length excludes its own header: 65535 - 8 (UDP).
UDP_MAX_IPV6 = 65527


class UDPTransport(MessageMixin[InetAddress]):
    """A UDP socket, bound and optionally connected (APUE 16.5 Data Transfer).

    >>> with UDPTransport.bind("127.0.0.1", 0) as a, UDPTransport.bind("127.0.0.1", 0) as b:
    ...     a.send_to(b"hello", b.local_address)
    ...     b.timeout = 5
    ...     b.recv_from(100).data
    5
    b'hello'
    """

    __slots__ = ()
    network = "udp"
    _kind = Kind.DATAGRAM
    _families = (socket.AF_INET, socket.AF_INET6)
    _send_allowed, _recv_allowed = allowed_masks(network)

    def _address(self, raw: Any) -> InetAddress:
        return inet_from_kernel(raw)

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
        """Bind a UDP socket to *host*:*port* (port 0: any free one) (APUE 16.3.4)."""
        timeout = check_timeout(timeout)
        fam, sockaddr = resolve(host, port, Kind.DATAGRAM, family, passive=True, network="udp")[0]
        where = InetAddress.from_sockaddr(sockaddr).url(cls.network)
        sock = new_socket(fam, Kind.DATAGRAM, tuple(options), where, timeout)
        try:
            sock.bind(sockaddr)
        except OSError as exc:
            sock.close()
            raise translate_os_error(exc, "bind", where) from exc
        except BaseException:
            sock.close()
            raise
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
        """Make a UDP socket whose peer is fixed to *host*:*port* (APUE 16.4).

        A connected datagram socket sends with plain ``send`` and receives
        only from its peer; ICMP errors (nobody listening) come back as
        :class:`~transports.errors.ConnectionRefused` on a later call.

        Port 0 is refused with :class:`~transports.errors.AddressError` before
        any lookup (it means "any free port" only to :meth:`bind`). No packet
        is exchanged, so the connect itself never waits: ``timeout=0`` gives
        a non-blocking transport, as it does for :meth:`bind`.
        """
        timeout = check_timeout(timeout)
        check_peer(host, port, cls.network)
        _check_source(source)
        settings = tuple(options)
        fam, sockaddr = resolve(host, port, Kind.DATAGRAM, family, network="udp")[0]
        target = InetAddress.from_sockaddr(sockaddr)
        where = target.url(cls.network)
        sock = new_socket(fam, Kind.DATAGRAM, settings, where, timeout)
        try:
            if source is not None:
                sock.bind(source.to_sockaddr())
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            raise translate_os_error(exc, "connect to", where, network=cls.network, remote=target) from exc
        except BaseException:
            sock.close()
            raise
        return cls(sock)

    @classmethod
    def from_socket(cls, sock: socket.socket) -> Self:
        """Wrap a UDP :class:`socket.socket`, connected or not, taking ownership of it (APUE 16.2).

        A closed socket is refused with :class:`ValueError`.
        """
        check_adoptable(cls, sock, connected=False)
        return cls(sock)

    @property
    def max_message_size(self) -> int:
        """The largest UDP payload: 65,507 bytes over IPv4, 65,527 over IPv6."""
        return UDP_MAX_IPV6 if self._sock.family == socket.AF_INET6 else UDP_MAX_IPV4

    def send_to(
        self,
        data: Buffer,
        address: Address | tuple[str, int] | str,
        flags: SendFlags = SendFlags.NONE,
    ) -> int:
        """Send one datagram to *address* (an InetAddress or a ``(host, port)`` tuple)."""
        bits = self._send_bits(flags) if flags else _NOSIGNAL
        if isinstance(address, InetAddress):
            target = address.to_sockaddr()
        elif isinstance(address, tuple) and len(address) == 2:
            target = InetAddress(*address).to_sockaddr()
        else:
            raise AddressError(
                f"a UDP transport sends to an InetAddress or a (host, port) tuple, got {address!r}"
            )
        if flags:
            try:
                return self._call(bits, self._sock.sendto, data, bits, target)
            except OSError as exc:
                err: TransportError = self._send_error(exc, "send_to", data)
                raise err from exc
        # The hot path: no DONTWAIT to honour, so no detour through _call; still
        # in flight while it runs, so that close() from another thread wakes it.
        self._enter()
        try:
            return self._sock.sendto(data, bits, target)
        except OSError as exc:
            err = self._send_error(exc, "send_to", data)
            raise err from exc
        finally:
            self._leave()

    def recv_from(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> Datagram:
        """Receive one datagram and its sender; ``truncated`` says if it did not fit."""
        return self._recv_datagram(max_bytes, flags)
