"""URL schemes and the factories behind them (APUE 16.3.3 Address Lookup, 16.4 Connection Establishment).

:func:`transports.connect`, :func:`transports.listen` and
:func:`transports.bind` look the URL's scheme up here. Each scheme maps to
a :class:`SchemeFactory`: an object that makes a transport or listener from
a URL. Our nine built-in schemes (Go's network names) are registered at
import; :func:`register` adds more.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Mapping
from importlib import metadata
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from transports.addresses import InetAddress, UnixAddress
from transports.errors import AddressError, PluginError, UnknownScheme
from transports.kinds import Kind
from transports.options import OptionSetting
from transports.protocols import Listener, Transport
from transports.urls import INET_SCHEMES, UNIX_SCHEMES, parse_url, split_scheme

if TYPE_CHECKING:
    from transports.tcp import Family

__all__ = [
    "ENTRY_POINT_GROUP",
    "OpenArgs",
    "SchemeFactory",
    "SchemeInfo",
    "lookup",
    "register",
    "registered_schemes",
    "schemes",
]


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
_origins: dict[str, str] = {}
#: Entry points found in the group, by scheme; loaded only when first used.
_plugins: dict[str, metadata.EntryPoint] = {}
_discovered = threading.Event()
_plugin_errors: dict[str, str] = {}

#: The entry-point group third-party packages register their schemes in.
ENTRY_POINT_GROUP = "transports.schemes"


@attrs.frozen
class SchemeInfo:
    """One row of :func:`schemes`: a scheme, its kind, and where it comes from (APUE 16.3.3 Address Lookup).

    ``origin`` is ``"builtin"``, ``"registered"`` (by :func:`register`) or
    ``"plugin <distribution> <version>"``; ``error`` says why a plugin could
    not be loaded (then ``kind`` is None).
    """

    name: str
    kind: Kind | None
    description: str
    origin: str
    error: str | None = None


def _check_name(name: str) -> str:
    scheme, rest = split_scheme(f"{name}:")
    if rest or scheme != name.lower():
        raise AddressError(f"{name!r} is not a valid URL scheme name")
    return scheme


def _check_factory(name: str, factory: object) -> SchemeFactory:
    if not isinstance(factory, SchemeFactory):
        raise TypeError(
            f"scheme {name!r}: the factory needs kind, description, connect, listen and bind; got {factory!r}"
        )
    return factory


def register(name: str, factory: SchemeFactory, *, replace: bool = False) -> None:
    """Make :func:`transports.connect` and friends handle URLs of scheme *name* (APUE 16.3.3 Address Lookup).

    Registering a name twice is an error unless ``replace=True``.
    Packages can instead declare an entry point in the group
    ``transports.schemes`` (name: the scheme; value: a factory object or a
    callable returning one); it is loaded the first time the scheme is used.
    """
    scheme = _check_name(name)
    _check_factory(name, factory)
    with _lock:
        if scheme in _registry and not replace:
            raise ValueError(
                f"scheme {scheme!r} is already registered ({_registry[scheme]!r}); "
                "pass replace=True to override it"
            )
        _registry[scheme] = factory
        _origins[scheme] = "registered"


def register_builtin(name: str, factory: SchemeFactory) -> None:
    """Register one of our own schemes that lives outside this module (memory://)."""
    with _lock:
        _registry[_check_name(name)] = _check_factory(name, factory)


def _discover() -> dict[str, metadata.EntryPoint]:
    """The entry points of our group, read once (call with the lock held)."""
    if not _discovered.is_set():
        for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
            _plugins.setdefault(entry.name.lower(), entry)
        _discovered.set()
    return _plugins


def _describe_entry(entry: metadata.EntryPoint) -> str:
    dist = entry.dist
    where = f"{dist.name} {dist.version}" if dist is not None else "an unknown distribution"
    return f"{entry.value} from {where}"


def _load_plugin(scheme: str) -> SchemeFactory | None:
    """Load the plugin for *scheme* if one is declared (call with the lock held)."""
    entry = _discover().get(scheme)
    if entry is None:
        return None
    if scheme in _plugin_errors:
        raise PluginError(_plugin_errors[scheme])
    try:
        loaded = entry.load()
        factory = loaded if isinstance(loaded, SchemeFactory) else loaded()
        factory = _check_factory(scheme, factory)
    except Exception as exc:
        message = (
            f"the plugin for scheme {scheme!r} ({_describe_entry(entry)}) failed to load: "
            f"{type(exc).__name__}: {exc}; reinstall or remove that package"
        )
        _plugin_errors[scheme] = message
        raise PluginError(message) from exc
    _registry[scheme] = factory
    dist = entry.dist
    _origins[scheme] = f"plugin {dist.name} {dist.version}" if dist is not None else "plugin"
    return factory


def lookup(url: str) -> SchemeFactory:
    """The factory for *url*'s scheme (APUE 16.3.3 Address Lookup).

    Built-in and registered schemes come first; then plugins of the
    ``transports.schemes`` entry-point group, loaded on first use. An
    unknown scheme raises :class:`~transports.errors.UnknownScheme` listing
    the known ones; a plugin that fails to load raises
    :class:`~transports.errors.PluginError` naming it.
    """
    scheme, _ = split_scheme(url)
    with _lock:
        factory = _registry.get(scheme) or _load_plugin(scheme)
        if factory is None:
            raise UnknownScheme(scheme, sorted({*_registry, *_discover()}))
    return factory


def registered_schemes() -> Mapping[str, SchemeFactory]:
    """A snapshot of every scheme loaded so far and its factory (APUE 16.3.3 Address Lookup)."""
    with _lock:
        return dict(_registry)


def schemes() -> list[SchemeInfo]:
    """Every scheme, built-in, registered and plugin, loading plugins to learn their kind (APUE 16.3.3).

    A broken plugin appears with its ``error`` instead of breaking the list.
    """
    with _lock:
        for scheme in _discover():
            if scheme not in _registry:
                with contextlib.suppress(PluginError):
                    _load_plugin(scheme)
        rows = [
            SchemeInfo(name, factory.kind, factory.description, _origins.get(name, "builtin"))
            for name, factory in _registry.items()
        ]
        rows += [
            SchemeInfo(name, None, "", "plugin", error)
            for name, error in _plugin_errors.items()
            if name not in _registry
        ]
    return sorted(rows, key=lambda row: row.name)


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
