"""The built-in rows of the scheme table: Go's network names, the in-memory schemes and TLS (:apue:`16.3.3`, :apue:`16.4`).

``tcp``, ``tcp4``, ``tcp6``, ``udp``, ``udp4``, ``udp6``, ``unix``,
``unixgram`` and ``unixpacket`` open our socket classes; ``memory`` and
``memorygram`` the in-memory test transports; ``tls``, ``tls+unix`` and
``tls+memory`` TLS over ``tcp``, ``unix`` and ``memory``; ``systemd`` and
``fd`` adopt a socket passed by a service manager (``transports._core.activation``),
whatever its kind: the table checks a caller's ``kind=`` against the socket itself. Each face's classes are found
by module name when a URL is first opened -- ``transports`` for the sync
face, ``transports.aio`` for the async one, ``transports.testing.memory``
and ``transports.testing.aio_memory`` for the in-memory schemes,
``transports.tls.schemes`` for TLS -- so the table (:mod:`transports.registry`)
imports none of them, and none of them waits for the table to be built.
"""

from __future__ import annotations

import importlib
import socket
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from transports._core.validate import check_timeout
from transports._scheme_types import OpenArgs, SchemeRow
from transports.addresses import Address, InetAddress, NamedAddress, UnixAddress
from transports.errors import AddressError
from transports.kinds import Kind
from transports.urls import INET_SCHEMES, UNIX_SCHEMES, parse_named_url, parse_url, plain_url, split_scheme

if TYPE_CHECKING:
    from transports._core.inet import Family
    from transports._scheme_types import AsyncListener, AsyncTransport
    from transports.protocols import Listener, Transport

__all__ = ["PASSED_SCHEMES", "builtin_rows", "expecting"]

_FAMILY_NAMES: dict[socket.AddressFamily, Family] = {
    socket.AF_UNSPEC: "any",
    socket.AF_INET: "ipv4",
    socket.AF_INET6: "ipv6",
}

#: Each face: the module whose classes open the sockets, and how its messages name it.
_SYNC_FACE, _AIO_FACE = "transports", "transports.aio"
_FACE_PREFIX = {_SYNC_FACE: "transports", _AIO_FACE: "aio"}
#: The modules of the in-memory transports of each face, imported when a ``memory`` URL is first opened.
_MEMORY_MODULE, _AIO_MEMORY_MODULE = "transports.testing.memory", "transports.testing.aio_memory"
#: The module that opens the TLS schemes on both faces, imported when a TLS URL is first opened.
_TLS_MODULE = "transports.tls.schemes"
#: The module that adopts passed sockets, imported when a ``systemd://`` or ``fd://`` URL is first opened.
_ACTIVATION_MODULE = "transports._core.activation"
#: The schemes of sockets a service manager passed: their kind is the socket's, learnt when opened.
PASSED_SCHEMES = frozenset({"systemd", "fd"})


@attrs.frozen
class _SocketScheme:
    """Opens one of Go's network names on one face (the sync package or :mod:`transports.aio`).

    Both faces export the same class names with the same constructors, so
    one dispatch serves both: on the aio face the call returns a coroutine.
    """

    name: str
    kind: Kind
    description: str

    def open(self, op: str, url: str, args: OpenArgs, face_name: str) -> Any:
        face = importlib.import_module(face_name)
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
            prefix = _FACE_PREFIX[face_name]
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

    def _unix_class(self, face: Any) -> Any:
        if self.kind is Kind.STREAM:
            return face.UnixStreamTransport
        if self.kind is Kind.DATAGRAM:
            return face.UnixDatagramTransport
        return face.UnixSeqpacketTransport


@attrs.frozen
class _SyncSocketScheme(_SocketScheme):
    """The sync factory of a built-in socket scheme."""

    def connect(self, url: str, args: OpenArgs) -> Transport:
        result: Transport = self.open("connect", url, args, _SYNC_FACE)
        return result

    def listen(self, url: str, args: OpenArgs) -> Listener[Transport]:
        result: Listener[Transport] = self.open("listen", url, args, _SYNC_FACE)
        return result

    def bind(self, url: str, args: OpenArgs) -> Transport:
        result: Transport = self.open("bind", url, args, _SYNC_FACE)
        return result


@attrs.frozen
class _AsyncSocketScheme(_SocketScheme):
    """The async factory of a built-in socket scheme."""

    async def connect(self, url: str, args: OpenArgs) -> AsyncTransport:
        result: AsyncTransport = await self.open("connect", url, args, _AIO_FACE)
        return result

    async def listen(self, url: str, args: OpenArgs) -> AsyncListener:
        result: AsyncListener = await self.open("listen", url, args, _AIO_FACE)
        return result

    async def bind(self, url: str, args: OpenArgs) -> AsyncTransport:
        result: AsyncTransport = await self.open("bind", url, args, _AIO_FACE)
        return result


@attrs.frozen
class _Lazy:
    """A factory that imports the module doing the work when its scheme is first opened.

    ``memory`` and ``memorygram`` are opened by ``MemoryScheme(kind)`` of the
    memory module of each face, the TLS schemes by ``TLSScheme(name)`` of
    :mod:`transports.tls.schemes`; those modules do not register themselves
    at import, and ``import transports`` imports neither (nor :mod:`ssl`).
    """

    kind: Kind
    description: str
    #: The module and the class that open the scheme, and what that class is made from.
    module: str
    factory: str
    made_from: Any

    def _target(self) -> Any:
        return getattr(importlib.import_module(self.module), self.factory)(self.made_from)


@attrs.frozen
class _LazyScheme(_Lazy):
    """The sync factory of a scheme opened by a module imported on first use."""

    def connect(self, url: str, args: OpenArgs) -> Transport:
        result: Transport = self._target().connect(url, args)
        return result

    def listen(self, url: str, args: OpenArgs) -> Listener[Transport]:
        result: Listener[Transport] = self._target().listen(url, args)
        return result

    def bind(self, url: str, args: OpenArgs) -> Transport:
        result: Transport = self._target().bind(url, args)
        return result


@attrs.frozen
class _LazyAsyncScheme(_Lazy):
    """The async factory of a scheme opened by a module imported on first use."""

    async def connect(self, url: str, args: OpenArgs) -> AsyncTransport:
        result: AsyncTransport = await self._target().connect(url, args)
        return result

    async def listen(self, url: str, args: OpenArgs) -> AsyncListener:
        result: AsyncListener = await self._target().listen(url, args)
        return result

    async def bind(self, url: str, args: OpenArgs) -> AsyncTransport:
        result: AsyncTransport = await self._target().bind(url, args)
        return result


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
    "tls": "TLS over TCP",
    "tls+unix": "TLS over a Unix-domain stream",
    "tls+memory": "TLS over the in-memory stream (tests)",
    "systemd": "a socket systemd passed, by FileDescriptorName (any kind)",
    "fd": "a socket passed as descriptor N (any kind)",
}


def _parse_socket_url(url: str) -> Address:
    return parse_url(url).address


def _socket_row(name: str, kind: Kind, family: socket.AddressFamily) -> SchemeRow:
    description = _DESCRIPTIONS[name]
    return SchemeRow(
        name,
        kind,
        description,
        "builtin",
        family=family,
        parse=_parse_socket_url,
        sync=_SyncSocketScheme(name, kind, description),
        aio=_AsyncSocketScheme(name, kind, description),
    )


def _memory_row(name: str, kind: Kind) -> SchemeRow:
    def parse(url: str) -> NamedAddress:
        return parse_named_url(url, name)

    description = _DESCRIPTIONS[name]
    return SchemeRow(
        name,
        kind,
        description,
        "builtin",
        parse=parse,
        sync=_LazyScheme(kind, description, _MEMORY_MODULE, "MemoryScheme", kind),
        aio=_LazyAsyncScheme(kind, description, _AIO_MEMORY_MODULE, "AsyncMemoryScheme", kind),
    )


def _parse_tls_url(url: str) -> Address:
    plain = plain_url(url)
    under = split_scheme(plain)[0]
    try:
        if under == "memory":
            return parse_named_url(plain, "memory")
        return parse_url(plain).address
    except AddressError as err:
        # The plain URL's parser names its own scheme; the caller wrote the TLS one.
        raise AddressError(str(err).replace(f"{under}:", f"{split_scheme(url)[0]}:")) from None


def _tls_row(name: str, family: socket.AddressFamily | None) -> SchemeRow:
    description = _DESCRIPTIONS[name]
    return SchemeRow(
        name,
        Kind.STREAM,
        description,
        "builtin",
        family=family,
        parse=_parse_tls_url,
        sync=_LazyScheme(Kind.STREAM, description, _TLS_MODULE, "TLSScheme", name),
        aio=_LazyAsyncScheme(Kind.STREAM, description, _TLS_MODULE, "AsyncTLSScheme", name),
        tls=True,
    )


def _open_passed(
    factory: _SyncPassed | _AsyncPassed, op: str, url: str, args: OpenArgs, face_name: str
) -> Any:
    """Adopt the socket a ``systemd://NAME`` or ``fd://N`` URL names, for *op* on *face_name* (:apue:`16.4`)."""
    key = _parse_passed_url(url).name
    prefix = _FACE_PREFIX[face_name]
    if op == "connect":
        raise AddressError(
            f"connect({url!r}): a passed socket is listened on or bound, never connected to; "
            f"use {prefix}.listen() or {prefix}.bind()"
        )
    if args.options or args.backlog != OpenArgs().backlog:
        raise AddressError(
            f"{op}({url!r}): the service manager set the passed socket up; options and backlog "
            "belong in its unit (or launcher), not here"
        )
    timeout = check_timeout(args.timeout)  # before adopting: a refusal must leave the socket unowned
    module = importlib.import_module(_ACTIVATION_MODULE)
    made = module.open_passed(url, factory.name, key, op, face_name, factory.wanted)
    if timeout is not None:
        made.timeout = timeout
    return made


async def _ready(value: Any) -> Any:
    return value


@attrs.frozen
class _SyncPassed(_SyncSocketScheme):
    """The sync factory of ``systemd`` and ``fd``: adopts the passed socket the URL names.

    ``wanted`` is the kind the caller asked for, set by the table
    (:func:`expecting`): it can be checked only against the socket.
    """

    wanted: Kind | None = None

    def open(self, op: str, url: str, args: OpenArgs, face_name: str) -> Any:
        return _open_passed(self, op, url, args, face_name)


@attrs.frozen
class _AsyncPassed(_AsyncSocketScheme):
    """The async factory of ``systemd`` and ``fd``: adopting never waits, so its coroutine is done at once."""

    wanted: Kind | None = None

    def open(self, op: str, url: str, args: OpenArgs, face_name: str) -> Any:
        return _ready(_open_passed(self, op, url, args, face_name))


FactoryT = TypeVar("FactoryT")


def expecting(factory: FactoryT, wanted: Kind | None) -> FactoryT:
    """*factory* of a passed-socket scheme, checking the socket is of kind *wanted* (None: any) (:apue:`16.4`)."""
    if isinstance(factory, _SyncPassed | _AsyncPassed):
        return attrs.evolve(factory, wanted=wanted)
    return factory


def _parse_passed_url(url: str) -> NamedAddress:
    scheme = split_scheme(url)[0]
    address = parse_named_url(url, scheme)
    if scheme == "fd" and not (address.name.isascii() and address.name.isdigit()):
        raise AddressError(f"{url!r}: write fd://N with N a descriptor number, e.g. fd://3")
    if scheme == "systemd" and (":" in address.name or len(address.name) > 255):
        raise AddressError(
            f"{url!r}: a FileDescriptorName has at most 255 characters and no ':'; write systemd://NAME"
        )
    return address


def _passed_row(name: str) -> SchemeRow:
    description = _DESCRIPTIONS[name]
    return SchemeRow(
        name,
        Kind.STREAM,  # the row needs one; the socket's own kind is checked when it is opened
        description,
        "builtin",
        parse=_parse_passed_url,
        sync=_SyncPassed(name, Kind.STREAM, description),
        aio=_AsyncPassed(name, Kind.STREAM, description),
    )


def builtin_rows() -> dict[str, SchemeRow]:
    """A fresh row for every built-in scheme, by name: the table's starting contents (:apue:`16.3.3`)."""
    rows = {name: _socket_row(name, kind, family) for name, (kind, family) in INET_SCHEMES.items()}
    rows |= {name: _socket_row(name, kind, socket.AF_UNIX) for name, kind in UNIX_SCHEMES.items()}
    rows["memory"] = _memory_row("memory", Kind.STREAM)
    rows["memorygram"] = _memory_row("memorygram", Kind.DATAGRAM)
    rows["tls"] = _tls_row("tls", socket.AF_UNSPEC)
    rows["tls+unix"] = _tls_row("tls+unix", socket.AF_UNIX)
    rows["tls+memory"] = _tls_row("tls+memory", None)
    rows |= {name: _passed_row(name) for name in sorted(PASSED_SCHEMES)}
    return rows
