"""TCP: a reliable byte stream between two Internet endpoints (APUE 16.2, 16.4, 16.5, 16.7).

:class:`TCPTransport` is a connected ``SOCK_STREAM`` socket over IPv4 or
IPv6; :class:`TCPListener` a passive one that accepts connections. TCP
alone among our kinds has out-of-band ("urgent") data (APUE 16.7
Out-of-Band Data): ``SendFlags.OOB`` and ``RecvFlags.OOB``.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterable
from typing import Any, Literal, Self

from transports._core.deadline import Deadline
from transports._core.listener import SocketListener
from transports._core.owner import new_socket
from transports._core.transport import SocketTransport
from transports._core.validate import check_timeout
from transports.addresses import InetAddress
from transports.errors import AddressError, TransportError, WouldBlock, translate_os_error
from transports.flags import allowed_masks
from transports.kinds import Kind
from transports.options import IPV6_V6ONLY, SO_REUSEADDR, OptionSetting, apply_option
from transports.sendfile import SendfileMixin

__all__ = ["Family", "TCPListener", "TCPTransport", "resolve"]

#: Which IP version to use: "any" resolves both and tries each in turn.
Family = Literal["any", "ipv4", "ipv6"]
_FAMILIES: dict[str, socket.AddressFamily] = {
    "any": socket.AF_UNSPEC,
    "ipv4": socket.AF_INET,
    "ipv6": socket.AF_INET6,
}


def _family(family: Family) -> socket.AddressFamily:
    try:
        return _FAMILIES[family]
    except KeyError:
        raise ValueError(f"family must be 'any', 'ipv4' or 'ipv6', got {family!r}") from None


def _check_source(source: InetAddress | None) -> None:
    if source is not None and not isinstance(source, InetAddress):
        raise TypeError(f"source must be an InetAddress such as InetAddress('127.0.0.1', 0), got {source!r}")


def check_peer(host: str, port: int, network: str) -> InetAddress:
    """Validate the address a connect goes to, before any lookup or socket (APUE 16.4).

    Port 0 means "any free port" to ``bind`` and ``listen``; as a
    destination it names no service (Linux refuses TCP with ECONNREFUSED and
    lets a UDP socket "connect" to it, after which every send fails), so it
    is refused here like any other port out of range.
    """
    address = InetAddress(host, port)  # type and 0..65535 checks first
    if port == 0:
        raise AddressError(
            f"cannot connect to {address.url(network)}: port 0 is not a destination "
            "(it means 'any free port' only when binding or listening); give the "
            "server's port, 1..65535"
        )
    return address


def connect_would_block(exc: OSError, where: str, why: str, hint: str = "") -> WouldBlock:
    """The error of a connect with ``timeout=0`` that could not complete at once (APUE 16.8).

    The socket is closed by then (nothing was connected), so the hint is to
    connect again, with a timeout, rather than to wait for readiness.
    """
    code = exc.errno if exc.errno is not None else errno.EAGAIN
    hint = hint or "connect with a timeout > 0 or None, then set transport.timeout = 0 for non-blocking I/O"
    return WouldBlock(
        f"connect to {where}: {why} and timeout=0 never waits ({errno.errorcode.get(code, code)}); {hint}",
        errno=code,
        op="connect",
        address=where,
    )


def check_adoptable(cls: type[SocketTransport[Any]], sock: object, *, connected: bool) -> None:
    """Refuse a socket ``from_socket`` cannot honestly wrap: closed, or not connected when it must be.

    A refused socket is left open and still the caller's. Sockets of the
    wrong type, family or kind are left to the constructor, which says so.
    """
    if not isinstance(sock, socket.socket):
        return  # the constructor raises TypeError
    name = f"{cls.__name__}.from_socket"
    if sock.fileno() == -1:
        raise ValueError(f"{name}: the socket is closed; pass an open socket (it is not taken over)")
    if not connected or sock.family not in cls._families or sock.type != cls._kind.socket_type:
        return  # a wrong family or kind: the constructor names both
    try:
        sock.getpeername()
    except OSError as exc:
        if exc.errno not in (errno.ENOTCONN, errno.EINVAL):
            raise translate_os_error(exc, "getpeername", f"{cls.network}:(adopted socket)") from exc
        why = errno.errorcode.get(exc.errno, str(exc.errno))
    else:
        return
    listening = False
    accept_conn = getattr(socket, "SO_ACCEPTCONN", None)
    if accept_conn is not None:
        try:
            listening = bool(sock.getsockopt(socket.SOL_SOCKET, accept_conn))
        except OSError:  # pragma: no cover - every platform with the option answers it
            listening = False
    if listening:
        raise ValueError(
            f"{name}: the socket is listening, not connected; accept() connections on it "
            "and wrap those (it is not taken over)"
        )
    raise ValueError(
        f"{name}: the socket is not connected (getpeername: {why}); connect it first, "
        f"or use {cls.__name__}.connect (it is not taken over)"
    )


def resolve(
    host: str,
    port: int,
    kind: Kind,
    family: Family = "any",
    *,
    passive: bool = False,
    network: str = "tcp",
) -> list[tuple[socket.AddressFamily, Any]]:
    """Resolve *host* and *port* to socket addresses (APUE 16.3.3 Address Lookup).

    Returns ``(family, sockaddr)`` pairs in the order ``getaddrinfo`` gives.
    An empty *host* with ``passive=True`` means every local address.
    """
    address = InetAddress(host, port)  # validates before any lookup
    where = address.url(network)
    flags = socket.AI_PASSIVE if passive else 0
    try:
        infos = socket.getaddrinfo(address.host or None, port, _family(family), kind.socket_type, 0, flags)
    except socket.gaierror as exc:
        raise TransportError(
            f"resolve {where}: {exc.strerror}; check the host name (lookups that "
            "need DNS fail on a machine without it)",
            op="resolve",
            address=where,
        ) from exc
    seen: list[tuple[socket.AddressFamily, Any]] = []
    for fam, _, _, _, sockaddr in infos:
        if (fam, sockaddr) not in seen:
            seen.append((fam, sockaddr))
    if not seen:  # pragma: no cover - getaddrinfo raises instead
        raise TransportError(f"resolve {where}: no addresses", op="resolve", address=where)
    return seen


class TCPTransport(SendfileMixin[InetAddress]):
    """A connected TCP socket: a reliable, ordered byte stream (APUE 16.5 Data Transfer).

    >>> with TCPListener.listen("127.0.0.1", 0) as listener:
    ...     with TCPTransport.connect("127.0.0.1", listener.address.port, timeout=5) as client:
    ...         with listener.accept() as server:
    ...             client.send_all(b"ping")
    ...             server.recv_exactly(4)
    b'ping'
    """

    __slots__ = ()
    network = "tcp"
    _kind = Kind.STREAM
    _families = (socket.AF_INET, socket.AF_INET6)
    _send_allowed, _recv_allowed = allowed_masks(network)

    def _address(self, raw: Any) -> InetAddress:
        return InetAddress.from_sockaddr(raw)

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
        """Connect to *host*:*port* (APUE 16.4 Connection Establishment).

        Every resolved address is tried in turn, as ``connect_retry`` of APUE
        Fig. 16.11 tries again; the last error is raised, naming the address.
        *timeout* is one budget for the whole connect, shared by the
        addresses as Go's ``net.Dialer`` shares it (each gets an equal part
        of what is left, at least two seconds of it), and stays as the
        transport's timeout. *options* are applied before connecting (buffer sizes must be
        set then to take effect); *source* binds the local end first.

        Port 0 is refused with :class:`~transports.errors.AddressError` before
        any lookup (it means "any free port" only to :meth:`TCPListener.listen`).
        ``timeout=0`` never waits (APUE 16.8): a handshake needs a round trip,
        so it raises :class:`~transports.errors.WouldBlock` at once and leaves
        no socket behind. For a non-blocking connection, connect with a
        timeout (or ``None``) and then set ``transport.timeout = 0``.
        """
        timeout = check_timeout(timeout)
        check_peer(host, port, cls.network)
        _check_source(source)
        settings = tuple(options)
        deadline = Deadline(timeout)  # the lookup counts too, as in Go
        candidates = resolve(host, port, Kind.STREAM, family, network=cls.network)
        last: TransportError | None = None
        for index, (fam, sockaddr) in enumerate(candidates):
            target = InetAddress.from_sockaddr(sockaddr)
            where = target.url(cls.network)
            attempt = deadline.share(len(candidates) - index) if timeout else timeout
            if attempt == 0 and timeout:
                spent = TimeoutError("timed out")
                last = translate_os_error(
                    spent, "connect to", where, timeout=timeout, network=cls.network, remote=target
                )
                last.__cause__ = spent
                break
            sock = new_socket(fam, Kind.STREAM, settings, where, attempt)
            try:
                if source is not None:
                    sock.bind(source.to_sockaddr())
                sock.connect(sockaddr)
                sock.settimeout(timeout)
            except OSError as exc:
                sock.close()
                if timeout == 0 and isinstance(exc, BlockingIOError):
                    # EINPROGRESS: the handshake is under way, and waiting for it is what
                    # the caller forbade; another address would not do better.
                    raise connect_would_block(exc, where, "the TCP handshake needs a round trip") from exc
                last = translate_os_error(
                    exc, "connect to", where, timeout=timeout, network=cls.network, remote=target
                )
                last.__cause__ = exc
                continue
            except BaseException:
                sock.close()
                raise
            return cls(sock)
        assert last is not None
        raise last

    @classmethod
    def from_socket(cls, sock: socket.socket) -> Self:
        """Wrap a connected TCP :class:`socket.socket`, taking ownership of it (APUE 16.2, 16.4).

        A closed socket, an unconnected one or a listening one is refused
        with :class:`ValueError` and left open, still the caller's.
        """
        check_adoptable(cls, sock, connected=True)
        return cls(sock)


class TCPListener(SocketListener[TCPTransport, InetAddress]):
    """A listening TCP socket that accepts :class:`TCPTransport` connections (APUE 16.4 Connection Establishment).

    ``SO_REUSEADDR`` is set so a restarted server can bind a port still in
    TIME_WAIT. Port 0 picks a free port; read it back from :attr:`address`.
    """

    __slots__ = ()
    network = "tcp"

    def _address(self, raw: Any) -> InetAddress:
        return InetAddress.from_sockaddr(raw)

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
        """Bind *host*:*port* and listen (APUE 16.3.4, 16.4).

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
        try:
            if v6only is not None:
                apply_option(sock, IPV6_V6ONLY, v6only, where)
            elif fam == socket.AF_INET6 and not any(s.option is IPV6_V6ONLY for s in settings):
                # An explicit IPv6 address means IPv6 only, whatever the sysctl default.
                apply_option(sock, IPV6_V6ONLY, True, where)
            sock.bind(sockaddr)
            sock.listen(backlog)
        except OSError as exc:
            sock.close()
            raise translate_os_error(exc, "listen on", where) from exc
        except BaseException:
            sock.close()
            raise
        return cls(sock, TCPTransport)
