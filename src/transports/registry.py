"""URL schemes and the factories behind them: one table for both faces (APUE 16.3.3 Address Lookup, 16.4).

:func:`transports.connect`, :func:`transports.listen`, :func:`transports.bind`
and their async twins in :mod:`transports.aio` look the URL's scheme up in
one table. Each row names the scheme, its kind, its address family, the
parser of its addresses, a description, and the two factories that open it:
a :class:`SchemeFactory` for the sync face and an
:class:`AsyncSchemeFactory` for :mod:`transports.aio`. Either may be absent;
asking for it then raises :class:`~transports.errors.AddressError` naming the
scheme and the face that does exist.

The built-in rows (Go's network names ``tcp``, ``tcp4``, ``tcp6``, ``udp``,
``udp4``, ``udp6``, ``unix``, ``unixgram``, ``unixpacket``, and the in-memory
``memory`` and ``memorygram``) are declared below; no module registers
itself at import. :func:`register` adds rows at run time, and installed
packages add theirs through the entry-point group ``transports.schemes``,
read only when an unknown scheme is first looked up (so a program that uses
only built-in schemes never imports :mod:`importlib.metadata`).
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import socket
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from transports.addresses import Address, InetAddress, NamedAddress, UnixAddress
from transports.errors import AddressError, PluginError, UnknownScheme
from transports.kinds import Kind
from transports.urls import INET_SCHEMES, UNIX_SCHEMES, parse_named_url, parse_url, split_scheme

if TYPE_CHECKING:
    from importlib import metadata
    from types import ModuleType

    from transports import aio
    from transports.options import OptionSetting
    from transports.protocols import Listener, Transport
    from transports.tcp import Family

__all__ = [
    "ENTRY_POINT_GROUP",
    "AsyncSchemeFactory",
    "OpenArgs",
    "SchemeFactory",
    "SchemeInfo",
    "lookup",
    "lookup_async",
    "parse_address",
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
    """Makes transports for one URL scheme, for the sync face (APUE 16.4 Connection Establishment).

    A factory that cannot do an operation (``listen`` on a connectionless
    scheme, say) raises :class:`~transports.errors.AddressError` saying what
    to call instead. Optional attributes fill the rest of the scheme's row:
    ``async_factory`` (an :class:`AsyncSchemeFactory`, to serve
    :mod:`transports.aio` too), ``family`` (a :class:`socket.AddressFamily`)
    and ``parse_address(url)`` (the URL's address, for :func:`parse_address`).
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


@runtime_checkable
class AsyncSchemeFactory(Protocol):
    """Makes :mod:`transports.aio` transports for one URL scheme (APUE 16.4, 16.8 Nonblocking I/O).

    The async twin of :class:`SchemeFactory`: the same methods, as
    coroutines, returning the protocols of :mod:`transports.aio.protocols`.
    """

    @property
    def kind(self) -> Kind:
        """The kind of transport the scheme makes."""
        ...

    @property
    def description(self) -> str:
        """One line for listings."""
        ...

    async def connect(self, url: str, args: OpenArgs) -> aio.Transport:
        """Connect to the URL's address."""
        ...

    async def listen(self, url: str, args: OpenArgs) -> aio.Listener[aio.Transport]:
        """Listen at the URL's address."""
        ...

    async def bind(self, url: str, args: OpenArgs) -> aio.Transport:
        """Bind a connectionless transport to the URL's address."""
        ...


@attrs.frozen
class SchemeInfo:
    """One row of :func:`schemes`: a scheme, its kind, and where it comes from (APUE 16.3.3 Address Lookup).

    ``origin`` is ``"builtin"``, ``"registered"`` (by :func:`register`) or
    ``"plugin <distribution> <version>"``; ``error`` says why a plugin could
    not be loaded (then ``kind`` is None). ``family`` is the socket address
    family the scheme resolves to (None when it is not a socket);
    ``sync`` and ``aio`` say which faces can open it.
    """

    name: str
    kind: Kind | None
    description: str
    origin: str
    error: str | None = None
    family: socket.AddressFamily | None = None
    sync: bool = True
    aio: bool = False


#: Parses a URL of one scheme into its address, without touching the network.
AddressParser = Callable[[str], Address]


@attrs.frozen
class _Row:
    """One scheme of the table, with what opens it on each face."""

    name: str
    kind: Kind
    description: str
    origin: str
    family: socket.AddressFamily | None = None
    parse: AddressParser | None = None
    sync: SchemeFactory | None = None
    aio: AsyncSchemeFactory | None = None
    #: Why there is no async factory, for the error message (" yet (...)").
    no_aio: str = ""

    def info(self) -> SchemeInfo:
        return SchemeInfo(
            self.name,
            self.kind,
            self.description,
            self.origin,
            family=self.family,
            sync=self.sync is not None,
            aio=self.aio is not None,
        )


# -- the built-in factories -----------------------------------------------------------------------

_FAMILY_NAMES: dict[socket.AddressFamily, Family] = {
    socket.AF_UNSPEC: "any",
    socket.AF_INET: "ipv4",
    socket.AF_INET6: "ipv6",
}


@attrs.frozen
class _SocketScheme:
    """Opens one of Go's network names on a face: the sync package or :mod:`transports.aio`.

    Both faces export the same class names with the same constructors, so
    one dispatch serves both: on the aio face the call returns a coroutine.
    """

    name: str
    kind: Kind
    description: str

    def open(self, op: str, url: str, args: OpenArgs, face: ModuleType, prefix: str) -> Any:
        parsed = parse_url(url)
        address = parsed.address
        common: dict[str, Any] = {"timeout": args.timeout, "options": args.options}
        if op == "connect":
            if isinstance(address, InetAddress):
                if not address.host:
                    raise AddressError(
                        f"connect({url!r}): a host is needed, e.g. {self.name}://127.0.0.1:{address.port}"
                    )
                cls = face.TCPTransport if self.kind is Kind.STREAM else face.UDPTransport
                return cls.connect(address.host, address.port, family=_FAMILY_NAMES[parsed.family], **common)
            return self._unix_class(face).connect(address, **common)
        if (op == "bind") != (self.kind is Kind.DATAGRAM):
            instead = (
                f"{prefix}.bind() (datagrams have no connections)"
                if op == "listen"
                else f"{prefix}.listen() to accept connections"
            )
            raise AddressError(f"{op}({url!r}): {self.name} is {self.kind.value}; use {instead} instead")
        if isinstance(address, InetAddress):
            family = _FAMILY_NAMES[parsed.family]
            if op == "bind":
                return face.UDPTransport.bind(address.host, address.port, family=family, **common)
            return face.TCPListener.listen(
                address.host, address.port, family=family, backlog=args.backlog, **common
            )
        assert isinstance(address, UnixAddress)
        if op == "bind":
            return face.UnixDatagramTransport.bind(
                None if address.unnamed else address, mode=args.mode, **common
            )
        if address.unnamed:
            raise AddressError(f"listen({url!r}): a Unix listener needs a path or @name")
        cls = face.UnixListener if self.kind is Kind.STREAM else face.UnixSeqpacketListener
        return cls.listen(address, backlog=args.backlog, mode=args.mode, **common)

    def _unix_class(self, face: ModuleType) -> Any:
        if self.kind is Kind.STREAM:
            return face.UnixStreamTransport
        if self.kind is Kind.DATAGRAM:
            return face.UnixDatagramTransport
        return face.UnixSeqpacketTransport


def _sync_face() -> ModuleType:
    return importlib.import_module("transports")


def _aio_face() -> ModuleType:
    return importlib.import_module("transports.aio")


@attrs.frozen
class _BuiltinScheme(_SocketScheme):
    """The sync factory of a built-in socket scheme."""

    def connect(self, url: str, args: OpenArgs) -> Transport:
        result: Transport = self.open("connect", url, args, _sync_face(), "transports")
        return result

    def listen(self, url: str, args: OpenArgs) -> Listener[Transport]:
        result: Listener[Transport] = self.open("listen", url, args, _sync_face(), "transports")
        return result

    def bind(self, url: str, args: OpenArgs) -> Transport:
        result: Transport = self.open("bind", url, args, _sync_face(), "transports")
        return result


@attrs.frozen
class _BuiltinAsyncScheme(_SocketScheme):
    """The async factory of a built-in socket scheme."""

    async def connect(self, url: str, args: OpenArgs) -> aio.Transport:
        result: aio.Transport = await self.open("connect", url, args, _aio_face(), "aio")
        return result

    async def listen(self, url: str, args: OpenArgs) -> aio.Listener[aio.Transport]:
        result: aio.Listener[aio.Transport] = await self.open("listen", url, args, _aio_face(), "aio")
        return result

    async def bind(self, url: str, args: OpenArgs) -> aio.Transport:
        result: aio.Transport = await self.open("bind", url, args, _aio_face(), "aio")
        return result


@attrs.frozen
class _LazyMemoryScheme:
    """The sync factory of ``memory://`` and ``memorygram://``: imports the memory module on first use."""

    kind: Kind
    description: str

    def _target(self) -> SchemeFactory:
        from transports.testing.memory import MemoryScheme

        # transports.testing.memory keeps the code that opens its transports; it
        # does not register it at import (see the report of issue 14 for making it public).
        target: SchemeFactory = MemoryScheme(self.kind)
        return target

    def connect(self, url: str, args: OpenArgs) -> Transport:
        return self._target().connect(url, args)

    def listen(self, url: str, args: OpenArgs) -> Listener[Transport]:
        return self._target().listen(url, args)

    def bind(self, url: str, args: OpenArgs) -> Transport:
        return self._target().bind(url, args)


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
    "memory": "in-memory stream (tests)",
    "memorygram": "in-memory datagram (tests)",
}


def _parse_socket_url(url: str) -> Address:
    return parse_url(url).address


def _builtin_row(name: str, kind: Kind, family: socket.AddressFamily) -> _Row:
    description = _DESCRIPTIONS[name]
    return _Row(
        name,
        kind,
        description,
        "builtin",
        family=family,
        parse=_parse_socket_url,
        sync=_BuiltinScheme(name, kind, description),
        aio=_BuiltinAsyncScheme(name, kind, description),
    )


def _memory_row(name: str, kind: Kind) -> _Row:
    def parse(url: str) -> NamedAddress:
        return parse_named_url(url, name)

    return _Row(
        name,
        kind,
        _DESCRIPTIONS[name],
        "builtin",
        parse=parse,
        sync=_LazyMemoryScheme(kind, _DESCRIPTIONS[name]),
        no_aio=" yet (issue 15 brings the async memory transport)",
    )


def _builtin_rows() -> dict[str, _Row]:
    rows = {name: _builtin_row(name, kind, family) for name, (kind, family) in INET_SCHEMES.items()}
    rows |= {name: _builtin_row(name, kind, socket.AF_UNIX) for name, kind in UNIX_SCHEMES.items()}
    rows["memory"] = _memory_row("memory", Kind.STREAM)
    rows["memorygram"] = _memory_row("memorygram", Kind.DATAGRAM)
    return rows


# -- the table ------------------------------------------------------------------------------------

_lock = threading.Lock()
#: The table: every scheme known so far, by name.
_registry: dict[str, _Row] = _builtin_rows()
#: Entry points found in the group, by scheme; loaded only when first used.
_plugins: dict[str, metadata.EntryPoint] = {}
_discovered = threading.Event()
_plugin_errors: dict[str, str] = {}

#: The entry-point group third-party packages register their schemes in.
ENTRY_POINT_GROUP = "transports.schemes"


def _check_name(name: str) -> str:
    scheme, rest = split_scheme(f"{name}:")
    if rest or scheme != name.lower():
        raise AddressError(f"{name!r} is not a valid URL scheme name")
    return scheme


def _is_async(factory: object) -> bool:
    return inspect.iscoroutinefunction(getattr(factory, "connect", None))


def _check_factory(name: str, factory: object) -> SchemeFactory:
    if not isinstance(factory, SchemeFactory):
        raise TypeError(
            f"scheme {name!r}: the factory needs kind, description, connect, listen and bind; got {factory!r}"
        )
    if _is_async(factory):
        raise TypeError(
            f"scheme {name!r}: {factory!r} has coroutine methods; pass it as async_factory= "
            "(the first argument is the sync factory, or None)"
        )
    return factory


def _check_async_factory(name: str, factory: object) -> AsyncSchemeFactory:
    if not isinstance(factory, AsyncSchemeFactory) or not _is_async(factory):
        raise TypeError(
            f"scheme {name!r}: the async factory needs kind, description and coroutine methods "
            f"connect, listen and bind; got {factory!r}"
        )
    return factory


def _make_row(name: str, factory: object, async_factory: object, origin: str) -> _Row:
    """Check the factories of a registered or plugin scheme and make its row."""
    sync = None if factory is None else _check_factory(name, factory)
    if async_factory is None and sync is not None:
        async_factory = getattr(sync, "async_factory", None)
    aio = None if async_factory is None else _check_async_factory(name, async_factory)
    either = sync or aio
    if either is None:
        raise TypeError(f"scheme {name!r}: give a sync factory, an async_factory, or both; got neither")
    parse = getattr(either, "parse_address", None)
    family = getattr(either, "family", None)
    return _Row(
        name,
        either.kind,
        either.description,
        origin,
        family=family if isinstance(family, socket.AddressFamily) else None,
        parse=parse if callable(parse) else None,
        sync=sync,
        aio=aio,
    )


def register(
    name: str,
    factory: SchemeFactory | None,
    *,
    replace: bool = False,
    async_factory: AsyncSchemeFactory | None = None,
) -> None:
    """Make :func:`transports.connect` and friends handle URLs of scheme *name* (APUE 16.3.3 Address Lookup).

    *factory* serves the sync face and *async_factory* :mod:`transports.aio`;
    either may be None, not both. A sync factory with an ``async_factory``
    attribute gives both at once. Registering a name twice is an error
    unless ``replace=True``. Packages can instead declare an entry point in
    the group ``transports.schemes`` (name: the scheme; value: a factory
    object or a callable returning one); it is loaded the first time the
    scheme is used.
    """
    scheme = _check_name(name)
    row = _make_row(scheme, factory, async_factory, "registered")
    with _lock:
        if scheme in _registry and not replace:
            raise ValueError(
                f"scheme {scheme!r} is already registered ({_registry[scheme].sync or _registry[scheme].aio!r}); "
                "pass replace=True to override it"
            )
        _registry[scheme] = row


def _discover() -> dict[str, metadata.EntryPoint]:
    """The entry points of our group, read once (call with the lock held)."""
    if not _discovered.is_set():
        # Imported here, not at the top: reading installed distributions is
        # a third of `import transports` otherwise.
        from importlib import metadata

        for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
            _plugins.setdefault(entry.name.lower(), entry)
        _discovered.set()
    return _plugins


def _describe_entry(entry: metadata.EntryPoint) -> str:
    dist = entry.dist
    where = f"{dist.name} {dist.version}" if dist is not None else "an unknown distribution"
    return f"{entry.value} from {where}"


def _load_plugin(scheme: str) -> _Row | None:
    """Load the plugin for *scheme* if one is declared (call with the lock held)."""
    entry = _discover().get(scheme)
    if entry is None:
        return None
    if scheme in _plugin_errors:
        raise PluginError(_plugin_errors[scheme])
    dist = entry.dist
    origin = f"plugin {dist.name} {dist.version}" if dist is not None else "plugin"
    try:
        loaded = entry.load()
        factory = loaded if isinstance(loaded, (SchemeFactory, AsyncSchemeFactory)) else loaded()
        if _is_async(factory):
            row = _make_row(scheme, None, factory, origin)
        else:
            row = _make_row(scheme, factory, None, origin)
    except Exception as exc:
        message = (
            f"the plugin for scheme {scheme!r} ({_describe_entry(entry)}) failed to load: "
            f"{type(exc).__name__}: {exc}; reinstall or remove that package"
        )
        _plugin_errors[scheme] = message
        raise PluginError(message) from exc
    _registry[scheme] = row
    return row


def _row(url: str) -> _Row:
    """The table's row for *url*'s scheme: built-in and registered first, then plugins."""
    scheme, _ = split_scheme(url)
    with _lock:
        row = _registry.get(scheme) or _load_plugin(scheme)
        if row is None:
            raise UnknownScheme(scheme, sorted({*_registry, *_discover()}))
    return row


def _missing(row: _Row, face: str, other: str, reason: str) -> AddressError:
    origin = "" if row.origin == "builtin" else f" ({row.origin})"
    return AddressError(f"{row.name}://{origin} has no {face} factory{reason}; only {other} can open it")


def lookup(url: str) -> SchemeFactory:
    """The sync factory for *url*'s scheme (APUE 16.3.3 Address Lookup).

    Built-in and registered schemes come first; then plugins of the
    ``transports.schemes`` entry-point group, loaded on first use. An
    unknown scheme raises :class:`~transports.errors.UnknownScheme` listing
    the known ones; a plugin that fails to load raises
    :class:`~transports.errors.PluginError` naming it; a scheme with only an
    async factory raises :class:`~transports.errors.AddressError`.
    """
    row = _row(url)
    if row.sync is None:
        raise _missing(row, "sync", "transports.aio", "")
    return row.sync


def lookup_async(url: str) -> AsyncSchemeFactory:
    """The async factory for *url*'s scheme, for :mod:`transports.aio` (APUE 16.3.3, 16.8 Nonblocking I/O).

    The same lookup as :func:`lookup`; a scheme with only a sync factory
    raises :class:`~transports.errors.AddressError` saying so.
    """
    row = _row(url)
    if row.aio is None:
        reason = row.no_aio or (
            ": the plugin offers none (see Plugins, 'An async factory')" if row.origin != "builtin" else ""
        )
        raise _missing(row, "async", "the sync transports.connect/listen/bind", reason)
    return row.aio


def parse_address(url: str) -> Address:
    """The address in *url*, parsed by its scheme's parser, without opening anything (APUE 16.3.3).

    Raises :class:`~transports.errors.AddressError` for a malformed URL or a
    scheme whose factory has no address parser.
    """
    row = _row(url)
    if row.parse is None:
        raise AddressError(f"{url!r}: the {row.name} scheme ({row.origin}) has no address parser")
    return row.parse(url)


def registered_schemes() -> Mapping[str, SchemeFactory]:
    """A snapshot of every scheme loaded so far with a sync factory, and that factory (APUE 16.3.3)."""
    with _lock:
        return {name: row.sync for name, row in _registry.items() if row.sync is not None}


def schemes() -> list[SchemeInfo]:
    """Every scheme, built-in, registered and plugin, loading plugins to learn their kind (APUE 16.3.3).

    A broken plugin appears with its ``error`` instead of breaking the list.
    """
    with _lock:
        for scheme in _discover():
            if scheme not in _registry:
                with contextlib.suppress(PluginError):
                    _load_plugin(scheme)
        rows = [row.info() for row in _registry.values()]
        rows += [
            SchemeInfo(name, None, "", "plugin", error, sync=False)
            for name, error in _plugin_errors.items()
            if name not in _registry
        ]
    return sorted(rows, key=lambda row: row.name)
