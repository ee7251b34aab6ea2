"""Address value types (:apue:`16.3.2`).

An Internet endpoint is a host and a port (``sockaddr_in`` /
``sockaddr_in6``); a Unix-domain endpoint is a filesystem path or, on Linux,
a name in the abstract namespace (``sockaddr_un``). Both are frozen, hashable
attrs classes that check themselves when made, so a bad port or an over-long
path is a :class:`~transports.AddressError` before any socket exists.
"""

from __future__ import annotations

import functools
import ipaddress
import operator
import os
import socket
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn, Self, TypeAlias

import attrs

from transports.credentials import Credentials
from transports.errors import AddressError

__all__ = ["Address", "Datagram", "InetAddress", "NamedAddress", "UnixAddress"]

#: Bytes of ``sun_path`` a name may use: 108 in the kernel, one kept for the
#: terminating NUL of a path or the leading NUL of an abstract name.
UNIX_PATH_MAX = 107


def _check_port(_: object, __: attrs.Attribute[int], port: int) -> None:
    if isinstance(port, bool) or not isinstance(port, int):
        raise AddressError(f"port must be an int, got {port!r}")
    if not 0 <= port <= 65535:
        raise AddressError(f"port {port} is out of range; use 0..65535 (0 picks a free port)")


def _check_host(_: object, __: attrs.Attribute[str], host: str) -> None:
    if not isinstance(host, str):
        raise AddressError(f"host must be a str, got {host!r}")
    if host.startswith("[") or host.endswith("]"):
        raise AddressError(f"host {host!r}: give IPv6 hosts without brackets, e.g. '::1'")
    if any(c.isspace() or not c.isprintable() or c in "/?#@" for c in host):
        raise AddressError(f"host {host!r} contains characters no host name or IP address has")


@attrs.frozen
class InetAddress:
    """An IPv4 or IPv6 host and port (:apue:`16.3.2`).

    The host is an IP literal or a name to resolve; ``""`` means every local
    address when binding. IPv6 literals are written without brackets here and
    with them in URLs and ``str()``.

    >>> str(InetAddress("::1", 8080))
    '[::1]:8080'
    >>> InetAddress("127.0.0.1", 0).is_ipv6
    False
    """

    host: str = attrs.field(validator=_check_host)
    port: int = attrs.field(validator=_check_port)

    @property
    def is_ipv6(self) -> bool:
        """Whether the host is an IPv6 literal."""
        return ":" in self.host

    @property
    def family(self) -> socket.AddressFamily:
        """``AF_INET6`` for IPv6 literals, ``AF_INET`` for IPv4 literals, ``AF_UNSPEC`` for names."""
        if self.is_ipv6:
            return socket.AF_INET6
        try:
            ipaddress.IPv4Address(self.host)
        except ValueError:
            return socket.AF_UNSPEC
        return socket.AF_INET

    def __str__(self) -> str:
        host = f"[{self.host}]" if self.is_ipv6 else self.host
        return f"{host}:{self.port}"

    def url(self, scheme: str = "tcp") -> str:
        """This address as a URL of *scheme*: ``tcp://[::1]:8080``."""
        return f"{scheme}://{self}"

    def to_sockaddr(self) -> tuple[str, int]:
        """The ``(host, port)`` tuple the socket module takes."""
        return (self.host, self.port)

    @classmethod
    def from_sockaddr(cls, sockaddr: Any) -> InetAddress:
        """Make one from what ``getsockname``/``recvfrom`` return (2- or 4-tuples)."""
        host, port = sockaddr[0], sockaddr[1]
        return cls(str(host), int(port))


def _fs_bytes(name: str) -> bytes:
    return os.fsencode(name)


def _escape(name: str) -> str:
    # URL parsing percent-decodes Unix names and refuses "?" and "#".
    return name.replace("%", "%25").replace("?", "%3F").replace("#", "%23")


@attrs.frozen
class UnixAddress:
    """A Unix-domain socket name (:apue:`17.2.1`).

    ``path`` is a filesystem path, or with ``abstract=True`` a Linux
    abstract-namespace name (no file; it vanishes with the last socket). The
    empty path is an unnamed socket (a socketpair end, an unbound client, or
    "pick a name for me" when binding: autobind).

    >>> str(UnixAddress("svc", abstract=True)), UnixAddress("run/app.sock").url()
    ('@svc', 'unix:run/app.sock')
    >>> UnixAddress("svc", abstract=True).to_sockaddr()
    b'\\x00svc'
    """

    path: str = attrs.field()
    abstract: bool = attrs.field(default=False, kw_only=True)

    @path.validator
    def _check_path(self, _: attrs.Attribute[str], path: str) -> None:
        if not isinstance(path, str):
            raise AddressError(f"Unix socket path must be a str, got {path!r}")
        if "\0" in path:
            raise AddressError(f"Unix socket path {path!r} contains a NUL byte")
        try:
            size = len(_fs_bytes(path))
        except UnicodeEncodeError as exc:
            raise AddressError(
                f"Unix socket path {path!r} cannot be encoded for the file system: {exc.reason}"
            ) from None
        if size > UNIX_PATH_MAX:
            raise AddressError(
                f"Unix socket path is {size} bytes, longer than sun_path allows "
                f"({UNIX_PATH_MAX}): {path!r}; use a shorter path (a relative one, "
                "or a directory such as /run or /tmp)"
            )
        if self.abstract and not sys.platform.startswith("linux"):
            raise AddressError(
                f"abstract Unix socket names exist only on Linux, not on {sys.platform}: "
                f"@{path}; use a filesystem path"
            )
        if self.abstract and not path:
            raise AddressError("an abstract Unix socket name cannot be empty")

    @classmethod
    def coerce(cls, address: str | os.PathLike[str] | UnixAddress) -> UnixAddress:
        """Accept a UnixAddress, a path (str or PathLike), or ``"\\0name"`` for an abstract name."""
        if isinstance(address, UnixAddress):
            return address
        if isinstance(address, os.PathLike):
            address = os.fspath(address)
        if isinstance(address, str):
            if address.startswith("\0"):
                return cls(address[1:], abstract=True)
            return cls(address)
        raise AddressError(f"expected a Unix socket path or UnixAddress, got {address!r}")

    @property
    def unnamed(self) -> bool:
        """Whether this is the unnamed address (no path, not abstract)."""
        return not self.path and not self.abstract

    def __str__(self) -> str:
        if self.abstract:
            return f"@{self.path}"
        return self.path or "(unnamed)"

    def url(self, scheme: str = "unix") -> str:
        """This address as a URL: ``unix:///abs.sock``, ``unix:rel.sock``, ``unix://@name``.

        ``%``, ``?`` and ``#`` in the name, and a leading ``@`` of a relative
        path, are percent-escaped, so that parsing the URL gives this address back.
        """
        name = _escape(self.path)
        if self.abstract:
            return f"{scheme}://@{name}"
        if name.startswith("/"):
            return f"{scheme}://{name}"
        if name.startswith("@"):
            name = "%40" + name[1:]  # "unix:@x" would name an abstract socket
        return f"{scheme}:{name}"

    def to_sockaddr(self) -> str | bytes:
        """What the socket module takes: a str path, or bytes starting with NUL."""
        if self.abstract:
            return b"\0" + _fs_bytes(self.path)
        return self.path

    @classmethod
    def from_sockaddr(cls, sockaddr: Any) -> UnixAddress:
        """Make one from ``getsockname``/``recvfrom`` (str path, or bytes for abstract names)."""
        if sockaddr is None:
            return cls("")
        if isinstance(sockaddr, bytes):
            if sockaddr.startswith(b"\0"):
                return cls(os.fsdecode(sockaddr[1:]), abstract=True)
            return cls(os.fsdecode(sockaddr))
        return cls(str(sockaddr))


@attrs.frozen
class NamedAddress:
    """The address of a transport that is not a socket: a scheme and a name (:apue:`16.3.2`).

    Used by the in-memory transport (``memory://name``) and by plugin
    transports such as a message queue (``mqueue:///name``), whose endpoints
    are names rather than ``sockaddr`` structures.

    >>> NamedAddress("memory", "jobs").url()
    'memory://jobs'
    """

    scheme: str
    name: str

    def __str__(self) -> str:
        return self.name

    def url(self, scheme: str | None = None) -> str:
        """This address as a URL (its own scheme unless another is given)."""
        return f"{scheme or self.scheme}://{self.name}"


#: Any address a transport can have.
Address: TypeAlias = InetAddress | UnixAddress | NamedAddress


def _refuse_change(name: str) -> Callable[..., NoReturn]:
    def refuse(self: object, *args: object) -> NoReturn:
        # The error every other value type of ours raises (attrs' frozen classes).
        error = attrs.exceptions.FrozenInstanceError()
        error.add_note(f"a Datagram is immutable ({name!r} cannot change); make a new Datagram instead")
        raise error

    return refuse


def _field(index: int, name: str, doc: str) -> property:
    """A read-only field of :class:`Datagram`: a C getter, and FrozenInstanceError on a change."""
    return property(operator.itemgetter(index), _refuse_change(name), _refuse_change(name), doc)


#: Builds a Datagram from its fields without a Python frame: the receive paths use it.
make_datagram = tuple.__new__


class Datagram(tuple[bytes, "Address", bool, "int | None", "Credentials | None"]):
    """One received message and who sent it (:apue:`16.5`).

    ``truncated`` is True when the message was larger than the buffer and
    only its first bytes are in ``data``; ``size`` is then its real size
    where the platform reports it (Linux), else ``None``. Nothing is cut
    silently. ``credentials`` is who sent it, on a Unix datagram socket
    bound with ``credentials=True`` (:apue:`17.3`), else ``None``.

    An immutable, hashable value, equal only to another Datagram of the
    same fields. A receive makes one per message, so underneath it is a
    tuple, which C code builds without running any Python.
    """

    __slots__ = ()
    __match_args__ = ("data", "address", "truncated", "size")

    def __new__(
        cls,
        data: bytes,
        address: Address,
        truncated: bool = False,
        size: int | None = None,
        credentials: Credentials | None = None,
    ) -> Self:
        return make_datagram(cls, (data, address, truncated, size, credentials))

    if TYPE_CHECKING:

        @property
        def data(self) -> bytes:
            """The message, or its first part when ``truncated``."""

        @property
        def address(self) -> Address:
            """Who sent it (``UnixAddress("")`` for an unnamed Unix sender)."""

        @property
        def truncated(self) -> bool:
            """Whether the message was larger than the buffer."""

        @property
        def size(self) -> int | None:
            """The message's real size, where the platform reports it."""

        @property
        def credentials(self) -> Credentials | None:
            """Who sent it (pid, uid, gid), on a socket that asked for credentials."""

    else:
        # Read-only fields whose getters are C code (operator.itemgetter): no frame per read.
        data = _field(0, "data", "The message, or its first part when ``truncated``.")
        address = _field(1, "address", 'Who sent it (``UnixAddress("")`` for an unnamed Unix sender).')
        truncated = _field(2, "truncated", "Whether the message was larger than the buffer.")
        size = _field(3, "size", "The message's real size, where the platform reports it.")
        credentials = _field(
            4, "credentials", "Who sent it (pid, uid, gid), on a socket that asked for credentials."
        )

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Datagram:
            return NotImplemented  # a Datagram is not a tuple to anyone but itself
        return tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        if other.__class__ is not Datagram:
            return NotImplemented
        return tuple.__ne__(self, other)

    __hash__ = tuple.__hash__

    def __repr__(self) -> str:
        data, address, truncated, size, credentials = self
        who = "" if credentials is None else f", credentials={credentials!r}"
        return f"Datagram(data={data!r}, address={address!r}, truncated={truncated!r}, size={size!r}{who})"

    def __reduce__(self) -> tuple[type[Datagram], tuple[Any, ...]]:
        return (Datagram, tuple(self))


# The receive path decodes a sender address per message; senders repeat, and
# checking an address costs more than the receive itself. Only addresses the
# kernel reported come here (hashable, already valid), so the values are shared.
@functools.lru_cache(maxsize=512)
def inet_from_kernel(sockaddr: tuple[Any, ...]) -> InetAddress:
    """:meth:`InetAddress.from_sockaddr`, memoised for addresses the kernel reported."""
    return InetAddress.from_sockaddr(sockaddr)


@functools.lru_cache(maxsize=512)
def unix_from_kernel(sockaddr: str | bytes | None) -> UnixAddress:
    """:meth:`UnixAddress.from_sockaddr`, memoised for addresses the kernel reported."""
    return UnixAddress.from_sockaddr(sockaddr)
