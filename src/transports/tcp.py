"""TCP: a reliable byte stream between two Internet endpoints (:apue:`16.2`, :apue:`16.4`, :apue:`16.5`, :apue:`16.7`).

:class:`TCPTransport` is a connected ``SOCK_STREAM`` socket over IPv4 or
IPv6; :class:`TCPListener` a passive one that accepts connections. TCP
alone among our kinds has out-of-band ("urgent") data (:apue:`16.7`): ``SendFlags.OOB`` and ``RecvFlags.OOB``.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import Any, Self

from transports._core.deadline import Deadline
from transports._core.dial import Dial
from transports._core.inet import Family, check_peer, check_source, numeric, resolve
from transports._core.listener import SocketListener
from transports._core.owner import new_socket
from transports._core.sockets import check_adoptable, closing_on_error, connect_would_block
from transports._core.validate import check_timeout
from transports.addresses import InetAddress, inet_from_kernel
from transports.errors import AddressError, TransportError
from transports.kinds import Kind
from transports.options import IPV6_V6ONLY, SO_REUSEADDR, OptionSetting, apply_option
from transports.sendfile import SendfileMixin

__all__ = ["Family", "TCPListener", "TCPTransport", "resolve"]


class TCPTransport(SendfileMixin[InetAddress], network="tcp"):
    """A connected TCP socket: a reliable, ordered byte stream (:apue:`16.5`).

    >>> with TCPListener.listen("127.0.0.1", 0) as listener:
    ...     with TCPTransport.connect("127.0.0.1", listener.address.port, timeout=5) as client:
    ...         with listener.accept() as server:
    ...             client.send_all(b"ping")
    ...             server.recv_exactly(4)
    b'ping'
    """

    __slots__ = ()

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        *,
        timeout: float | None = None,
        family: Family = "any",
        source: InetAddress | None = None,
        options: Iterable[OptionSetting[Any]] = (),
    ) -> Self:
        """Connect to *host*:*port* (:apue:`16.4`).

        Every resolved address is tried in turn, as ``connect_retry`` of APUE
        Fig. 16.11 tries again; the last error is raised, naming the address.
        *timeout* is one budget for the whole connect, shared by the
        addresses as Go's ``net.Dialer`` shares it (each gets an equal part
        of what is left, at least two seconds of it), and stays as the
        transport's timeout. *options* are applied before connecting (buffer sizes must be
        set then to take effect); *source* binds the local end first.

        Port 0 is refused with :class:`~transports.AddressError` before
        any lookup (it means "any free port" only to :meth:`TCPListener.listen`).
        ``timeout=0`` never waits (:apue:`16.8`): a handshake needs a round trip,
        so it raises :class:`~transports.WouldBlock` at once and leaves
        no socket behind. For a non-blocking connection, connect with a
        timeout (or ``None``) and then set ``transport.timeout = 0``.
        """
        timeout = check_timeout(timeout)
        # An IP literal and a port in range need neither the checks of a name nor
        # a lookup (create_connection asks getaddrinfo even then).
        literal = numeric(host, port, family) if port.__class__ is int and 0 < port <= 65535 else None
        if literal is None:
            check_peer(host, port, cls.network)
        check_source(source)
        settings = tuple(options)
        deadline = Deadline(timeout)  # the lookup counts too, as in Go
        candidates = literal or resolve(host, port, Kind.STREAM, family, network=cls.network)
        dial = Dial(candidates, timeout, cls.network, deadline)
        for attempt in dial:
            sock = new_socket(attempt.family, Kind.STREAM, settings, attempt.where, attempt.timeout)
            try:
                if source is not None:
                    sock.bind(source.to_sockaddr())
                sock.connect(attempt.sockaddr)
                sock.settimeout(timeout)
            except OSError as exc:
                sock.close()
                if timeout == 0 and isinstance(exc, BlockingIOError):
                    # EINPROGRESS: the handshake is under way, and waiting for it is what
                    # the caller forbade; another address would not do better.
                    why = "the TCP handshake needs a round trip"
                    raise connect_would_block(exc, attempt.where, why) from exc
                dial.failed(attempt, exc)
                continue
            except BaseException:
                sock.close()
                raise
            return cls._connected(sock, attempt.sockaddr)
        raise dial.error()

    @classmethod
    def from_socket(cls, sock: socket.socket) -> Self:
        """Wrap a connected TCP :class:`socket.socket`, taking ownership of it (:apue:`16.2`, :apue:`16.4`).

        A closed socket, an unconnected one or a listening one is refused
        with :class:`ValueError` and left open, still the caller's.
        """
        check_adoptable(cls, sock, connected=True)
        return cls(sock)


class TCPListener(SocketListener[TCPTransport, InetAddress]):
    """A listening TCP socket that accepts :class:`TCPTransport` connections (:apue:`16.4`).

    ``SO_REUSEADDR`` is set so a restarted server can bind a port still in
    TIME_WAIT. Port 0 picks a free port; read it back from :attr:`address`.
    """

    __slots__ = ()
    network = "tcp"

    _address = staticmethod(inet_from_kernel)

    @classmethod
    def listen(
        cls,
        host: str,
        port: int,
        *,
        backlog: int = 128,
        family: Family = "any",
        dual_stack: bool = False,
        timeout: float | None = None,
        options: Iterable[OptionSetting[Any]] = (),
    ) -> Self:
        """Bind *host*:*port* and listen (:apue:`16.3.4`, :apue:`16.4`).

        ``host=""`` listens on every local address: with ``dual_stack=True``
        (or family "any" where the platform allows) one IPv6 socket that also
        takes IPv4 connections. Otherwise the first resolved address is used.
        """
        timeout = check_timeout(timeout)
        if type(backlog) is not int or backlog < 0:
            raise ValueError(f"backlog must be an int >= 0, got {backlog!r}")
        settings = tuple(options)
        v6only: bool | None = None
        if not host and (dual_stack or family == "any") and socket.has_dualstack_ipv6():
            candidates: list[tuple[socket.AddressFamily, Any]] = [(socket.AF_INET6, ("::", port))]
            v6only = False
        elif dual_stack:
            if family == "ipv4" or (host and InetAddress(host, port).family == socket.AF_INET):
                raise AddressError(
                    f"dual_stack needs an IPv6 wildcard listener, not {InetAddress(host, port)}; "
                    "use host '' or '::'"
                )
            if not socket.has_dualstack_ipv6():
                raise TransportError(
                    "this platform cannot make a dual-stack IPv6 socket; listen twice "
                    "(once per family) instead",
                    op="listen",
                    address=InetAddress(host or "::", port).url(cls.network),
                )
            candidates = resolve(host or "::", port, Kind.STREAM, "ipv6", passive=True)
            v6only = False
        else:
            candidates = resolve(host, port, Kind.STREAM, family, passive=True)
        fam, sockaddr = candidates[0]
        where = InetAddress.from_sockaddr(sockaddr).url(cls.network)
        sock = new_socket(fam, Kind.STREAM, (SO_REUSEADDR(True), *settings), where, timeout)
        with closing_on_error(sock, "listen on", where):
            if v6only is not None:
                apply_option(sock, IPV6_V6ONLY, v6only, where)
            elif fam == socket.AF_INET6 and not any(s.option is IPV6_V6ONLY for s in settings):
                # An explicit IPv6 address means IPv6 only, whatever the sysctl default.
                apply_option(sock, IPV6_V6ONLY, True, where)
            sock.bind(sockaddr)
            sock.listen(backlog)
        return cls(sock, TCPTransport)
