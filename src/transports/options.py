"""Typed socket options (:apue:`16.6`).

Each option is a :class:`SocketOption` constant named after its C name,
generic in the Python type of its value, so ``mypy`` rejects
``set_option(SO_RCVBUF, "big")``. An option knows its level (``SOL_SOCKET``
for generic options, ``IPPROTO_TCP``/``IPPROTO_IPV6`` for protocol ones),
how to encode and decode its value, and which transports it applies to;
asking a transport for an option it does not have raises
:class:`~transports.UnsupportedOption` before ``setsockopt`` runs.

Pass options at construction as settings made by calling the option::

    TCPTransport.connect("127.0.0.1", port, options=[TCP_NODELAY(True), SO_SNDBUF(1 << 20)])

Linux doubles the buffer sizes you set (the kernel keeps room for its own
bookkeeping), so ``get_option(SO_RCVBUF)`` reads back twice what was set.
"""

from __future__ import annotations

import socket
import struct
import sys
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

import attrs

from transports.errors import UnsupportedOption, translate_os_error
from transports.kinds import Kind

__all__ = [
    "IPV6_V6ONLY",
    "SO_BROADCAST",
    "SO_KEEPALIVE",
    "SO_LINGER",
    "SO_RCVBUF",
    "SO_REUSEADDR",
    "SO_REUSEPORT",
    "SO_SNDBUF",
    "TCP_KEEPCNT",
    "TCP_KEEPIDLE",
    "TCP_KEEPINTVL",
    "TCP_NODELAY",
    "Linger",
    "OptionSetting",
    "SocketOption",
    "all_options",
    "flag_option",
]

T = TypeVar("T")

_INET = frozenset({socket.AF_INET, socket.AF_INET6})
_ALL_FAMILIES = frozenset({socket.AF_INET, socket.AF_INET6, getattr(socket, "AF_UNIX", -1)})
_ALL_KINDS = frozenset(Kind)
_CONNECTED = frozenset({Kind.STREAM, Kind.SEQPACKET})


@attrs.frozen
class Linger:
    """The value of ``SO_LINGER``: how long ``close`` waits for unsent data (:apue:`16.6`).

    ``Linger(0)`` makes ``close`` drop unsent data and reset the connection
    (the peer sees ECONNRESET); ``Linger(5)`` waits up to five seconds. The
    option's value ``None`` means lingering is off (the default).
    """

    seconds: int = attrs.field()

    @seconds.validator
    def _check(self, _: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"Linger.seconds must be an int, got {value!r}")
        if not 0 <= value <= 2**31 - 1:
            raise ValueError(f"Linger.seconds must be between 0 and 2**31-1, got {value}")


def _check_bool(name: str, value: object) -> int:
    if not isinstance(value, bool):
        raise TypeError(f"{name} takes True or False, got {value!r}")
    return int(value)


def _check_size(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} takes an int, got {value!r}")
    if not 0 <= value <= 2**31 - 1:
        raise ValueError(f"{name} must be between 0 and 2**31-1, got {value}")
    return value


def _check_positive(name: str, value: object) -> int:
    number = _check_size(name, value)
    if number < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return number


_LINGER = struct.Struct("ii")


def _encode_linger(name: str, value: object) -> bytes:
    if value is None:
        return _LINGER.pack(0, 0)
    if not isinstance(value, Linger):
        raise TypeError(f"{name} takes a Linger or None, got {value!r}")
    return _LINGER.pack(1, value.seconds)


def _decode_linger(raw: int | bytes) -> Linger | None:
    assert isinstance(raw, bytes)
    onoff, seconds = _LINGER.unpack(raw)
    return Linger(seconds) if onoff else None


def _decode_bool(raw: int | bytes) -> bool:
    return bool(raw)


def _decode_int(raw: int | bytes) -> int:
    assert isinstance(raw, int)
    return raw


@attrs.frozen(eq=False)
class SocketOption(Generic[T]):
    """One socket option with a typed value (:apue:`16.6`).

    Call it to make a setting for a constructor's ``options=`` argument:
    ``SO_KEEPALIVE(True)``. Read and write it on a live transport with
    ``transport.get_option(SO_KEEPALIVE)`` and ``transport.set_option(...)``.
    """

    name: str
    level: int
    optname: int | None
    families: frozenset[int]
    kinds: frozenset[Kind]
    doc: str
    _encode: Callable[[str, object], int | bytes] = attrs.field(alias="encode")
    _decode: Callable[[int | bytes], T] = attrs.field(alias="decode")
    buflen: int = 0

    def __call__(self, value: T) -> OptionSetting[T]:
        self.encode(value)  # fail now, at the caller's line, not later in a constructor
        return OptionSetting(self, value)

    def __repr__(self) -> str:
        return f"<SocketOption {self.name}>"

    @property
    def available(self) -> bool:
        """Whether this platform defines the option."""
        return self.optname is not None

    def encode(self, value: T) -> int | bytes:
        """Check *value* and turn it into what ``setsockopt`` takes."""
        return self._encode(self.name, value)

    def decode(self, raw: int | bytes) -> T:
        """Turn what ``getsockopt`` returned into the typed value."""
        return self._decode(raw)

    def applies_to(self, family: int, kind: Kind) -> bool:
        """Whether a socket of *family* and *kind* has this option."""
        return family in self.families and kind in self.kinds


@attrs.frozen
class OptionSetting(Generic[T]):
    """An option with the value to give it, made by calling a :class:`SocketOption` (:apue:`16.6`)."""

    option: SocketOption[T]
    value: T


def flag_option(
    name: str, level: int, number: int | None, families: frozenset[int], kinds: frozenset[Kind], doc: str
) -> SocketOption[bool]:
    """A new on/off socket option, taking True or False checked as the built-in ones are (:apue:`16.6`).

    The ancillary-data and credentials options are made with it; a plugin
    may make its own. *number* ``None`` means the platform lacks it.
    """
    return SocketOption(name, level, number, families, kinds, doc, _check_bool, _decode_bool)


def _opt(
    name: str,
    level: int,
    optname: str,
    families: frozenset[int],
    kinds: frozenset[Kind],
    encode: Callable[[str, object], int | bytes],
    decode: Callable[[int | bytes], T],
    doc: str,
    *,
    fallback: str | None = None,
    buflen: int = 0,
) -> SocketOption[T]:
    number = getattr(socket, optname, None)
    if number is None and fallback is not None:
        number = getattr(socket, fallback, None)
    return SocketOption(name, level, number, families, kinds, doc, encode, decode, buflen)


_SOL = socket.SOL_SOCKET
_TCP = socket.IPPROTO_TCP
_IPV6 = socket.IPPROTO_IPV6
_STREAM = frozenset({Kind.STREAM})
_DGRAM = frozenset({Kind.DATAGRAM})
_INET6 = frozenset({socket.AF_INET6})

SO_REUSEADDR: SocketOption[bool] = _opt(
    "SO_REUSEADDR",
    _SOL,
    "SO_REUSEADDR",
    _ALL_FAMILIES,
    _ALL_KINDS,
    _check_bool,
    _decode_bool,
    "Allow bind to an address still in TIME_WAIT (listeners set it by default).",
)
SO_REUSEPORT: SocketOption[bool] = _opt(
    "SO_REUSEPORT",
    _SOL,
    "SO_REUSEPORT",
    _INET,
    _ALL_KINDS,
    _check_bool,
    _decode_bool,
    "Let several sockets bind the same address and port; the kernel spreads connections.",
)
SO_KEEPALIVE: SocketOption[bool] = _opt(
    "SO_KEEPALIVE",
    _SOL,
    "SO_KEEPALIVE",
    _ALL_FAMILIES,
    _CONNECTED,
    _check_bool,
    _decode_bool,
    "Probe an idle connection so a vanished peer is noticed.",
)
SO_RCVBUF: SocketOption[int] = _opt(
    "SO_RCVBUF",
    _SOL,
    "SO_RCVBUF",
    _ALL_FAMILIES,
    _ALL_KINDS,
    _check_size,
    _decode_int,
    "Receive buffer size in bytes (Linux reads back double).",
)
SO_SNDBUF: SocketOption[int] = _opt(
    "SO_SNDBUF",
    _SOL,
    "SO_SNDBUF",
    _ALL_FAMILIES,
    _ALL_KINDS,
    _check_size,
    _decode_int,
    "Send buffer size in bytes (Linux reads back double; bounds a Unix datagram).",
)
SO_LINGER: SocketOption[Linger | None] = _opt(
    "SO_LINGER",
    _SOL,
    "SO_LINGER",
    _ALL_FAMILIES,
    _CONNECTED,
    _encode_linger,
    _decode_linger,
    "What close does with unsent data: None (default), Linger(0) resets, Linger(n) waits n s.",
    buflen=_LINGER.size,
)
SO_BROADCAST: SocketOption[bool] = _opt(
    "SO_BROADCAST",
    _SOL,
    "SO_BROADCAST",
    frozenset({socket.AF_INET}),
    _DGRAM,
    _check_bool,
    _decode_bool,
    "Allow sending to a broadcast address (UDP over IPv4).",
)
TCP_NODELAY: SocketOption[bool] = _opt(
    "TCP_NODELAY",
    _TCP,
    "TCP_NODELAY",
    _INET,
    _STREAM,
    _check_bool,
    _decode_bool,
    "Send small segments at once instead of waiting to coalesce them (Nagle off).",
)
TCP_KEEPIDLE: SocketOption[int] = _opt(
    "TCP_KEEPIDLE",
    _TCP,
    "TCP_KEEPIDLE",
    _INET,
    _STREAM,
    _check_positive,
    _decode_int,
    "Seconds of idleness before the first keepalive probe.",
    fallback="TCP_KEEPALIVE",  # macOS spells it so
)
TCP_KEEPINTVL: SocketOption[int] = _opt(
    "TCP_KEEPINTVL",
    _TCP,
    "TCP_KEEPINTVL",
    _INET,
    _STREAM,
    _check_positive,
    _decode_int,
    "Seconds between keepalive probes.",
)
TCP_KEEPCNT: SocketOption[int] = _opt(
    "TCP_KEEPCNT",
    _TCP,
    "TCP_KEEPCNT",
    _INET,
    _STREAM,
    _check_positive,
    _decode_int,
    "Unanswered probes before the connection is declared dead.",
)
IPV6_V6ONLY: SocketOption[bool] = _opt(
    "IPV6_V6ONLY",
    _IPV6,
    "IPV6_V6ONLY",
    _INET6,
    _ALL_KINDS,
    _check_bool,
    _decode_bool,
    "An IPv6 socket that refuses IPv4-mapped peers (False gives a dual-stack socket).",
)


def all_options() -> tuple[SocketOption[Any], ...]:
    """Every option this module defines, available on this platform or not."""
    return tuple(v for v in globals().values() if isinstance(v, SocketOption))


def apply_option(sock: socket.socket, option: SocketOption[T], value: T, where: str) -> None:
    """Set *option* on *sock*, refusing options the socket does not have."""
    _check_applicable(sock, option, where)
    raw = option.encode(value)
    assert option.optname is not None
    try:
        sock.setsockopt(option.level, option.optname, raw)
    except OSError as exc:
        raise translate_os_error(exc, f"set {option.name} on", where) from exc


def read_option(sock: socket.socket, option: SocketOption[T], where: str) -> T:
    """Read *option* from *sock* as its typed value."""
    _check_applicable(sock, option, where)
    assert option.optname is not None
    try:
        if option.buflen:
            raw: int | bytes = sock.getsockopt(option.level, option.optname, option.buflen)
        else:
            raw = sock.getsockopt(option.level, option.optname)
    except OSError as exc:
        raise translate_os_error(exc, f"get {option.name} of", where) from exc
    return option.decode(raw)


def apply_settings(sock: socket.socket, settings: Iterable[OptionSetting[Any]], where: str) -> None:
    """Apply each setting in order (used by constructors before bind/connect)."""
    for setting in settings:
        if not isinstance(setting, OptionSetting):
            raise TypeError(f"options must be settings such as TCP_NODELAY(True), got {setting!r}")
        apply_option(sock, setting.option, setting.value, where)


def _check_applicable(sock: socket.socket, option: SocketOption[Any], where: str) -> None:
    if not isinstance(option, SocketOption):
        raise TypeError(f"expected a SocketOption such as TCP_NODELAY, got {option!r}")
    if option.optname is None:
        raise UnsupportedOption(
            f"{option.name} is not available on this platform ({sys.platform}); drop it from the options",
            op=f"set {option.name}",
            address=where,
        )
    kind = {socket.SOCK_STREAM: Kind.STREAM, socket.SOCK_DGRAM: Kind.DATAGRAM}.get(sock.type, Kind.SEQPACKET)
    if not option.applies_to(sock.family, kind):
        raise UnsupportedOption(
            f"{option.name} does not apply to {where} ({sock.family.name}, {kind.value}); "
            f"it is for {_describe(option)}",
            op=f"set {option.name}",
            address=where,
        )


def _describe(option: SocketOption[Any]) -> str:
    families = sorted(socket.AddressFamily(f).name for f in option.families if f >= 0)
    kinds = sorted(k.value for k in option.kinds)
    return f"{'/'.join(families)} sockets of kind {'/'.join(kinds)}"
