"""URL schemes and the factories behind them (APUE 16.3.3 Address Lookup, 16.4 Connection Establishment).

:func:`transports.connect`, :func:`transports.listen` and
:func:`transports.bind` look the URL's scheme up here. Each scheme maps to
a :class:`SchemeFactory`: an object that makes a transport or listener from
a URL. Our nine built-in schemes (Go's network names) are registered at
import; :func:`register` adds more.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from transports.addresses import InetAddress, UnixAddress
from transports.errors import AddressError, UnknownScheme
from transports.kinds import Kind
from transports.options import OptionSetting
from transports.protocols import Listener, Transport
from transports.urls import INET_SCHEMES, UNIX_SCHEMES, parse_url, split_scheme

if TYPE_CHECKING:
    from transports.tcp import Family

__all__ = ["OpenArgs", "SchemeFactory", "lookup", "register", "registered_schemes"]


@attrs.frozen
class OpenArgs:
    """What the caller asked for besides the URL, passed to every factory (APUE 16.4 Connection Establishment).

    ``timeout`` and ``options`` apply to the new socket (APUE 16.6 Socket
    Options), ``backlog`` to ``listen``, ``mode`` to a Unix socket file
    (APUE 17.3 Unique Connections).
    """

    timeout: float | None = None
    options: tuple[OptionSetting[Any], ...] = ()
    backlog: int = 128
    mode: int | None = 0o600


@runtime_checkable
class SchemeFactory(Protocol):
    """Makes transports for one URL scheme (APUE 16.4 Connection Establishment).

    A factory that cannot do an operation (``listen`` on a connectionless
    scheme, say) raises :class:`~transports.errors.AddressError` saying what
    to call instead.
    """

    @property
    def kind(self) -> Kind:
        """The kind of transport the scheme makes."""
        ...

    @property
    def description(self) -> str:
        """One line for listings."""
        ...

    def connect(self, url: str, args: OpenArgs) -> Transport:
        """Connect to the URL's address."""
        ...

    def listen(self, url: str, args: OpenArgs) -> Listener[Transport]:
        """Listen at the URL's address."""
        ...

    def bind(self, url: str, args: OpenArgs) -> Transport:
        """Bind a connectionless transport to the URL's address."""
        ...


_FAMILY_NAMES: dict[socket.AddressFamily, Family] = {
    socket.AF_UNSPEC: "any",
    socket.AF_INET: "ipv4",
    socket.AF_INET6: "ipv6",
}


@attrs.frozen
class _BuiltinScheme:
    """One of Go's network names: tcp, tcp4, tcp6, udp, udp4, udp6, unix, unixgram, unixpacket."""

    name: str
    kind: Kind
    description: str

    def _refuse(self, op: str, url: str, instead: str) -> AddressError:
        return AddressError(f"{op}({url!r}): {self.name} is {self.kind.value}; use {instead} instead")

    def connect(self, url: str, args: OpenArgs) -> Transport:
        from transports.tcp import TCPTransport
        from transports.udp import UDPTransport
        from transports.unix import UnixDatagramTransport, UnixSeqpacketTransport, UnixStreamTransport

        parsed = parse_url(url)
        address = parsed.address
        if isinstance(address, InetAddress):
            if not address.host:
                raise AddressError(
                    f"connect({url!r}): a host is needed, e.g. {self.name}://127.0.0.1:{address.port}"
                )
            family = _FAMILY_NAMES[parsed.family]
            cls: type[TCPTransport | UDPTransport] = (
                TCPTransport if self.kind is Kind.STREAM else UDPTransport
            )
            return cls.connect(
                address.host, address.port, family=family, timeout=args.timeout, options=args.options
            )
        if self.kind is Kind.STREAM:
            return UnixStreamTransport.connect(address, timeout=args.timeout, options=args.options)
        if self.kind is Kind.DATAGRAM:
            return UnixDatagramTransport.connect(address, timeout=args.timeout, options=args.options)
        return UnixSeqpacketTransport.connect(address, timeout=args.timeout, options=args.options)

    def listen(self, url: str, args: OpenArgs) -> Listener[Transport]:
        from transports.tcp import TCPListener
        from transports.unix import UnixListener, UnixSeqpacketListener

        if self.kind is Kind.DATAGRAM:
            raise self._refuse("listen", url, "transports.bind() (datagrams have no connections)")
        parsed = parse_url(url)
        address = parsed.address
        if isinstance(address, InetAddress):
            return TCPListener.listen(
                address.host,
                address.port,
                family=_FAMILY_NAMES[parsed.family],
                backlog=args.backlog,
                timeout=args.timeout,
                options=args.options,
            )
        assert isinstance(address, UnixAddress)
        if address.unnamed:
            raise AddressError(f"listen({url!r}): a Unix listener needs a path or @name")
        cls = UnixListener if self.kind is Kind.STREAM else UnixSeqpacketListener
        return cls.listen(
            address, backlog=args.backlog, mode=args.mode, timeout=args.timeout, options=args.options
        )

    def bind(self, url: str, args: OpenArgs) -> Transport:
        from transports.udp import UDPTransport
        from transports.unix import UnixDatagramTransport

        if self.kind is not Kind.DATAGRAM:
            raise self._refuse("bind", url, "transports.listen() to accept connections")
        parsed = parse_url(url)
        address = parsed.address
        if isinstance(address, InetAddress):
            return UDPTransport.bind(
                address.host,
                address.port,
                family=_FAMILY_NAMES[parsed.family],
                timeout=args.timeout,
                options=args.options,
            )
        return UnixDatagramTransport.bind(
            None if address.unnamed else address, mode=args.mode, timeout=args.timeout, options=args.options
        )


_lock = threading.Lock()
_registry: dict[str, SchemeFactory] = {}


def _check_name(name: str) -> str:
    scheme, rest = split_scheme(f"{name}:")
    if rest or scheme != name.lower():
        raise AddressError(f"{name!r} is not a valid URL scheme name")
    return scheme


def register(name: str, factory: SchemeFactory, *, replace: bool = False) -> None:
    """Make :func:`transports.connect` and friends handle URLs of scheme *name* (APUE 16.3.3 Address Lookup).

    Registering a name twice is an error unless ``replace=True``.
    """
    scheme = _check_name(name)
    if not isinstance(factory, SchemeFactory):
        raise TypeError(
            f"register({name!r}, ...): the factory needs kind, description, connect, listen "
            f"and bind; got {factory!r}"
        )
    with _lock:
        if scheme in _registry and not replace:
            raise ValueError(
                f"scheme {scheme!r} is already registered ({_registry[scheme]!r}); "
                "pass replace=True to override it"
            )
        _registry[scheme] = factory


def lookup(url: str) -> SchemeFactory:
    """The factory for *url*'s scheme; :class:`~transports.errors.UnknownScheme` lists the known ones."""
    scheme, _ = split_scheme(url)
    with _lock:
        factory = _registry.get(scheme)
        if factory is None:
            raise UnknownScheme(scheme, list(_registry))
    return factory


def registered_schemes() -> Mapping[str, SchemeFactory]:
    """A snapshot of every registered scheme and its factory (APUE 16.3.3 Address Lookup)."""
    with _lock:
        return dict(_registry)


_DESCRIPTIONS = {
    "tcp": "TCP over IPv4 or IPv6",
    "tcp4": "TCP over IPv4 only",
    "tcp6": "TCP over IPv6 only",
    "udp": "UDP over IPv4 or IPv6",
    "udp4": "UDP over IPv4 only",
    "udp6": "UDP over IPv6 only",
    "unix": "Unix-domain stream",
    "unixgram": "Unix-domain datagram",
    "unixpacket": "Unix-domain seqpacket",
}

for _name, (_kind, _) in INET_SCHEMES.items():
    _registry[_name] = _BuiltinScheme(_name, _kind, _DESCRIPTIONS[_name])
for _name, _kind in UNIX_SCHEMES.items():
    _registry[_name] = _BuiltinScheme(_name, _kind, _DESCRIPTIONS[_name])
del _name, _kind
