"""URL schemes and the factories behind them: one table for both faces (:apue:`16.3.3`, :apue:`16.4`).

:func:`transports.connect`, :func:`transports.listen`, :func:`transports.bind`
and their async twins in :mod:`transports.aio` look the URL's scheme up in
one table. Each row names the scheme, its kind, its address family, the
parser of its addresses, a description, and the two factories that open it:
a :class:`~transports.SchemeFactory` for the sync face and an
:class:`~transports.AsyncSchemeFactory` for :mod:`transports.aio`. Either may be absent;
asking for it then raises :class:`~transports.AddressError` naming the
scheme and the face that does exist.

The built-in rows (Go's network names ``tcp``, ``tcp4``, ``tcp6``, ``udp``,
``udp4``, ``udp6``, ``unix``, ``unixgram``, ``unixpacket``, the in-memory
``memory`` and ``memorygram``, and TLS over three of them: ``tls``,
``tls+unix`` and ``tls+memory``, and ``systemd`` and ``fd`` for sockets a service
manager passed) are declared in ``transports._builtin_schemes``;
no module registers itself at import. :func:`~transports.register` adds rows at run time, and installed
packages add theirs through the entry-point group ``transports.schemes``,
read only when an unknown scheme is first looked up (so a program that uses
only built-in schemes never imports :mod:`importlib.metadata`).
"""

from __future__ import annotations

import contextlib
import inspect
import socket
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

from transports._builtin_schemes import PASSED_SCHEMES, builtin_rows, expecting
from transports._scheme_types import AsyncSchemeFactory, OpenArgs, SchemeFactory, SchemeInfo, SchemeRow
from transports.addresses import Address
from transports.errors import AddressError, PluginError, UnknownScheme
from transports.kinds import Kind
from transports.urls import TLS_SCHEMES, split_scheme

if TYPE_CHECKING:
    from importlib import metadata

__all__ = [
    "ENTRY_POINT_GROUP",
    "AsyncSchemeFactory",
    "OpenArgs",
    "SchemeFactory",
    "SchemeInfo",
    "lookup",
    "lookup_async",
    "lookup_async_kind",
    "lookup_kind",
    "parse_address",
    "register",
    "registered_schemes",
    "schemes",
]


# -- the table ------------------------------------------------------------------------------------

_lock = threading.Lock()
#: The table: every scheme known so far, by name.
_registry: dict[str, SchemeRow] = builtin_rows()
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


def _make_row(name: str, factory: object, async_factory: object, origin: str) -> SchemeRow:
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
    return SchemeRow(
        name,
        either.kind,
        either.description,
        origin,
        family=family if isinstance(family, socket.AddressFamily) else None,
        parse=parse if callable(parse) else None,
        sync=sync,
        aio=aio,
        tls=getattr(either, "tls", False) is True,
    )


def register(
    name: str,
    factory: SchemeFactory | None,
    *,
    replace: bool = False,
    async_factory: AsyncSchemeFactory | None = None,
) -> None:
    """Make :func:`transports.connect` and friends handle URLs of scheme *name* (:apue:`16.3.3`).

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


def _load_plugin(scheme: str) -> SchemeRow | None:
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


def _row(url: str) -> SchemeRow:
    """The table's row for *url*'s scheme: built-in and registered first, then plugins."""
    scheme, _ = split_scheme(url)
    with _lock:
        row = _registry.get(scheme) or _load_plugin(scheme)
        if row is None:
            raise UnknownScheme(scheme, sorted({*_registry, *_discover()}))
    return row


def _missing(row: SchemeRow, face: str, other: str, reason: str) -> AddressError:
    origin = "" if row.origin == "builtin" else f" ({row.origin})"
    return AddressError(f"{row.name}://{origin} has no {face} factory{reason}; only {other} can open it")


def _wanted(kind: Kind | str | None) -> Kind | None:
    if kind is None:
        return None
    try:
        return Kind(kind)
    except ValueError:
        raise ValueError(f"kind must be 'stream', 'datagram' or 'seqpacket', got {kind!r}") from None


def _passed(row: SchemeRow) -> bool:
    """Whether *row* adopts a passed socket (``systemd://``, ``fd://``): its kind is the socket's."""
    return row.origin == "builtin" and row.name in PASSED_SCHEMES


def _check_kind(url: str, row: SchemeRow, kind: Kind | str | None, call: str) -> None:
    """Refuse a URL whose scheme makes another kind than the caller asked for."""
    wanted = _wanted(kind)
    if wanted is None or row.kind is wanted:
        return
    raise AddressError(
        f"{call}({url!r}, kind={wanted.value!r}): the {row.name}:// scheme makes {row.kind.value} "
        f"transports, not {wanted.value}; pass a {wanted.value} URL or kind={row.kind.value!r}"
    )


def _check_tls(url: str, row: SchemeRow, args: OpenArgs | None, call: str) -> None:
    """Refuse TLS settings for a scheme whose factories do not take them."""
    if args is None or row.tls or (args.context is None and args.server_hostname is None):
        return
    given = " and ".join(
        name
        for name, value in (("context", args.context), ("server_hostname", args.server_hostname))
        if value is not None
    )
    plain = row.name.rstrip("46") if row.name in ("tcp4", "tcp6") else row.name
    over = [tls for tls, under in TLS_SCHEMES.items() if under == plain]
    instead = f"{over[0]}:{split_scheme(url)[1]}" if over else f"a TLS scheme ({', '.join(TLS_SCHEMES)})"
    raise AddressError(
        f"{call}({url!r}) was given {given}, but the {row.name}:// scheme does not speak TLS; "
        f"use {instead}, or leave {given} out"
    )


def lookup_kind(
    url: str, kind: Kind | str | None, call: str = "connect", args: OpenArgs | None = None
) -> SchemeFactory:
    """:func:`lookup`, refusing a scheme of another kind than *kind* (None: any) (:apue:`16.3.3`, :apue:`16.4`).

    The check behind ``transports.connect(url, kind="stream")`` and friends: a
    scheme of another kind raises :class:`~transports.AddressError`
    naming the URL, the *call*, the kind asked for and the kind it makes.
    With *args*, TLS settings (``context``, ``server_hostname``) given for a
    scheme that does not speak TLS raise :class:`~transports.AddressError`
    too, naming the TLS URL to use instead. The kind of a passed socket
    (``systemd://``, ``fd://``) is checked against the socket when it is opened.
    """
    factory = lookup(url)
    row = _row(url)
    if _passed(row):
        _check_tls(url, row, args, call)
        return expecting(factory, _wanted(kind))
    _check_kind(url, row, kind, call)
    _check_tls(url, row, args, call)
    return factory


def lookup_async_kind(
    url: str, kind: Kind | str | None, call: str = "connect", args: OpenArgs | None = None
) -> AsyncSchemeFactory:
    """:func:`lookup_async` with the kind and TLS checks of :func:`lookup_kind` (:apue:`16.3.3`, :apue:`16.8`)."""
    factory = lookup_async(url)
    row = _row(url)
    if _passed(row):
        _check_tls(url, row, args, call)
        return expecting(factory, _wanted(kind))
    _check_kind(url, row, kind, call)
    _check_tls(url, row, args, call)
    return factory


def lookup(url: str) -> SchemeFactory:
    """The sync factory for *url*'s scheme (:apue:`16.3.3`).

    Built-in and registered schemes come first; then plugins of the
    ``transports.schemes`` entry-point group, loaded on first use. An
    unknown scheme raises :class:`~transports.UnknownScheme` listing
    the known ones; a plugin that fails to load raises
    :class:`~transports.PluginError` naming it; a scheme with only an
    async factory raises :class:`~transports.AddressError`.
    """
    row = _row(url)
    if row.sync is None:
        raise _missing(row, "sync", "transports.aio", "")
    return row.sync


def lookup_async(url: str) -> AsyncSchemeFactory:
    """The async factory for *url*'s scheme, for :mod:`transports.aio` (:apue:`16.3.3`, :apue:`16.8`).

    The same lookup as :func:`lookup`; a scheme with only a sync factory
    raises :class:`~transports.AddressError` saying so.
    """
    row = _row(url)
    if row.aio is None:
        reason = row.no_aio or (
            ": the plugin offers none (see Plugins, 'An async factory')" if row.origin != "builtin" else ""
        )
        raise _missing(row, "async", "the sync transports.connect/listen/bind", reason)
    return row.aio


def parse_address(url: str) -> Address:
    """The address in *url*, parsed by its scheme's parser, without opening anything (:apue:`16.3.3`).

    Raises :class:`~transports.AddressError` for a malformed URL or a
    scheme whose factory has no address parser.
    """
    row = _row(url)
    if row.parse is None:
        raise AddressError(f"{url!r}: the {row.name} scheme ({row.origin}) has no address parser")
    return row.parse(url)


def registered_schemes() -> Mapping[str, SchemeFactory]:
    """A snapshot of every scheme loaded so far with a sync factory, and that factory (:apue:`16.3.3`)."""
    with _lock:
        return {name: row.sync for name, row in _registry.items() if row.sync is not None}


def schemes() -> list[SchemeInfo]:
    """Every scheme, built-in, registered and plugin, loading plugins to learn their kind (:apue:`16.3.3`).

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
