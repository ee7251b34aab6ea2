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
from transports._core.dial import DEFAULT_DELAY, Dial, Race, check_delay
from transports._core.eyeballs import connect_first
from transports._core.inet import Family, check_peer, check_source, numeric, one_address, resolve
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
        happy_eyeballs_delay: float | None = DEFAULT_DELAY,
    ) -> Self:
        """Connect to *host*:*port* (:apue:`16.4`).

        A name that resolves to several addresses is connected the RFC 8305
        ("Happy Eyeballs") way: the addresses interleaved by family (the
        resolver's first family first), a new attempt started every
        *happy_eyeballs_delay* seconds (0.25) or as soon as the one before
        fails, the first to connect kept and the others closed; all on one
        thread, with non-blocking sockets and ``poll`` (:apue:`16.8`). With
        ``happy_eyeballs_delay=None`` the addresses are tried in turn, as
        ``connect_retry`` of APUE Fig. 16.11 tries again, each with an equal
        part of what is left of *timeout* (at least two seconds of it, as
        Go's ``net.Dialer`` shares it). An IP literal is one address: one
        plain ``connect``, nothing more.

        *timeout* is one budget for the whole connect, the name lookup
        included, and stays as the transport's timeout. When every address
        fails, the error names each with its reason. *options* are applied
        before connecting (buffer sizes must be set then to take effect);
        *source* binds the local end first.

        Port 0 is refused with :class:`~transports.AddressError` before
        any lookup (it means "any free port" only to :meth:`TCPListener.listen`).
        ``timeout=0`` never waits (:apue:`16.8`): a handshake needs a round trip,
        so it raises :class:`~transports.WouldBlock` at once and leaves
        no socket behind. For a non-blocking connection, connect with a
        timeout (or ``None``) and then set ``transport.timeout = 0``.
        """
        timeout = check_timeout(timeout)
        delay = check_delay(happy_eyeballs_delay)
        # An IP literal and a port in range need neither the checks of a name nor
        # a lookup (create_connection asks getaddrinfo even then).
        literal = numeric(host, port, family) if port.__class__ is int and 0 < port <= 65535 else None
        if literal is None:
            check_peer(host, port, cls.network)
        check_source(source)
        settings = tuple(options)
        if literal is not None:
            return cls._connect_literal(literal[0], timeout, settings, source, (host, port))
        deadline = Deadline(timeout)  # the lookup counts too, as in Go
        candidates = resolve(host, port, Kind.STREAM, family, network=cls.network)
        dial = Dial(candidates, timeout, cls.network, deadline, name=(host, port))
        if delay is not None and timeout != 0 and len(candidates) > 1:
            sock, won = connect_first(Race(dial, delay, settings, source), timeout)
            return cls._connected(sock, won.sockaddr)
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
    def _connect_literal(
        cls,
        candidate: tuple[socket.AddressFamily, Any],
        timeout: float | None,
        settings: tuple[OptionSetting[Any], ...],
        source: InetAddress | None,
        name: tuple[str, int],
    ) -> Self:
        """Connect to an IP literal: one address, one ``connect``, its own budget, no lookup, no race.

        The same steps as one try of the loop in :meth:`connect`, without the
        bookkeeping a list of addresses needs; a failure becomes the same error.
        """
        family, sockaddr = candidate
        host = sockaddr[0]
        where = f"tcp://[{host}]:{sockaddr[1]}" if ":" in host else f"tcp://{host}:{sockaddr[1]}"
        sock = new_socket(family, Kind.STREAM, settings, where, timeout)
        try:
            if source is not None:
                sock.bind(source.to_sockaddr())
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            if timeout == 0 and isinstance(exc, BlockingIOError):
                raise connect_would_block(exc, where, "the TCP handshake needs a round trip") from exc
            failure = exc
        except BaseException:
            sock.close()
            raise
        else:
            return cls._connected(sock, sockaddr)
        dial = Dial([candidate], timeout, cls.network, name=name)
        dial.failed(dial.attempt(family, sockaddr, timeout), failure)
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
    _families = (socket.AF_INET, socket.AF_INET6)
    _socket_type = socket.SOCK_STREAM

    _address = staticmethod(inet_from_kernel)

    @classmethod
    def _adopt(cls, sock: socket.socket) -> Self:
        return cls(sock, TCPTransport)

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
        takes IPv4 connections. A name must resolve to one address: one that
        resolves to several (``localhost`` as both ``::1`` and ``127.0.0.1``)
        is refused with :class:`~transports.AddressError` naming them; pass
        one of them, ``family=``, or ``""``.
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
        fam, sockaddr = one_address(candidates, host, port, network=cls.network)
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
