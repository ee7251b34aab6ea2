"""``SendFlags`` and ``RecvFlags``: the MSG_* flags of :apue:`16.5`.

The values are the platform's own ``MSG_*`` constants, so a flag is passed to
the kernel unchanged. A flag this platform does not define still exists as a
member (so code type-checks everywhere) but carries a private bit that no
kernel knows; every transport refuses it before the system call with an error
that names the flag and the platform, instead of silently ignoring it.

Which transports can honour a flag is written once, in the flag's own line:
each member is made by ``_flag()`` with the networks (``"tcp"``,
``"unixgram"`` ...) that can honour it and the reason the others cannot, the
way :mod:`transports.options` describes options. :data:`FLAG_TABLE` lists
those rows; :func:`allowed_masks` turns them into one integer mask per network,
once, so that checking a flag on a call is a few integer operations. Adding a
flag is adding one line to :class:`SendFlags` or :class:`RecvFlags`; a
transport class only says which network it is::

    network = "tcp"
    _send_allowed, _recv_allowed = allowed_masks(network)

Refusing (``SendFlags.OOB`` on UDP: out-of-band data does not exist there,
:apue:`16.7`) raises :class:`~transports.UnsupportedFlag` naming the flag,
the transport and why.
"""

from __future__ import annotations

import enum
import functools
import socket
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Final, Literal, NamedTuple, NoReturn

from transports.errors import UnsupportedFlag

__all__ = [
    "FLAG_TABLE",
    "NETWORKS",
    "FlagRule",
    "RecvFlags",
    "SendFlags",
    "allowed_masks",
    "check_flags",
    "refuse_flags",
    "unavailable_flags",
    "unix_stream_oob",
]

Direction = Literal["send", "recv"]

#: The networks the table knows: the socket kinds and the in-memory test doubles.
NETWORKS: Final = ("tcp", "udp", "unix", "unixgram", "unixpacket", "memory", "memorygram")
_EVERYWHERE: Final = frozenset(NETWORKS)

# A bit no kernel uses, for flags this platform lacks: each missing flag gets
# the next one, so the members stay distinct (not aliases of NONE) and asking
# for one is always noticed.
_MISSING_BASE: Final = 1 << 40


@functools.cache
def unix_stream_oob() -> bool:
    """Whether this kernel carries out-of-band bytes on Unix streams (:apue:`16.7`).

    Linux does so only when built with ``CONFIG_AF_UNIX_OOB``, so the kernel
    is asked once, with one urgent byte over a ``socketpair``, instead of assumed.
    """
    oob = getattr(socket, "MSG_OOB", None)
    if oob is None or not hasattr(socket, "AF_UNIX"):
        return False
    try:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    except OSError:
        return False
    with a, b:
        try:
            a.send(b"!", oob | getattr(socket, "MSG_NOSIGNAL", 0))
        except OSError:
            return False
    return True


class FlagRule(NamedTuple):
    """One row of the flag table: a ``MSG_*`` flag and where it can be honoured (:apue:`16.5`).

    Attributes:
        name: the member's name (``"OOB"``).
        constant: the C name (``"MSG_OOB"``).
        value: the platform's value of *constant*, or ``None`` where the
            :mod:`socket` module lacks it (the member then carries a private bit).
        direction: ``"send"`` for :class:`SendFlags`, ``"recv"`` for :class:`RecvFlags`.
        networks: the networks that can honour it.
        why_not: why the other networks cannot, in the words of the refusal.
        kernel: networks that honour it only if the running kernel does, each
            with the probe that asks it (Unix-stream ``MSG_OOB``).
    """

    name: str
    constant: str
    value: int | None
    direction: Direction
    networks: frozenset[str]
    why_not: str
    kernel: Mapping[str, Callable[[], bool]]

    def honoured_by(self, network: str) -> bool:
        """Whether a *network* transport can pass this flag to the kernel here."""
        if self.value is None or network not in self.networks:
            return False
        probe = self.kernel.get(network)
        return probe is None or probe()


_pending: list[tuple[Direction, str, int | None, frozenset[str], str, Mapping[str, Callable[[], bool]]]] = []
_missing: list[str] = []


def _flag(
    direction: Direction,
    constant: str,
    networks: frozenset[str] | tuple[str, ...],
    why_not: str = "",
    kernel: Mapping[str, Callable[[], bool]] | None = None,
) -> int:
    """One row of the table, written where the member is defined; returns the member's value."""
    found = getattr(socket, constant, None)
    value = None if found is None else int(found)  # a plain int: socket's own constants are IntFlags
    _pending.append((direction, constant, value, frozenset(networks), why_not, kernel or {}))
    if value is None:
        _missing.append(constant)
        return _MISSING_BASE << (len(_missing) - 1)
    return value


_STREAMS = ("tcp", "unix", "memory")
_OOB_WHY = "out-of-band data exists only on TCP and on Unix streams whose kernel carries it (APUE 16.7)"


if TYPE_CHECKING:
    from typing import Self

    class _OneDirection(enum.IntFlag):
        """What the type checker sees of both flag classes: they combine only with their own kind.

        ``enum.IntFlag``'s operators take any ``int``, so ``SendFlags.MORE |
        RecvFlags.PEEK`` would type-check and give a ``SendFlags`` holding
        ``MSG_PEEK``. At run time the classes are plain ``IntFlag``s.
        """

        def __or__(self, other: Self) -> Self: ...  # type: ignore[override]  # narrower on purpose
        def __ror__(self, other: Self) -> Self: ...  # type: ignore[override]  # narrower on purpose
        def __and__(self, other: Self) -> Self: ...  # type: ignore[override]  # narrower on purpose
        def __rand__(self, other: Self) -> Self: ...  # type: ignore[override]  # narrower on purpose
        def __xor__(self, other: Self) -> Self: ...  # type: ignore[override]  # narrower on purpose
        def __rxor__(self, other: Self) -> Self: ...  # type: ignore[override]  # narrower on purpose
else:
    _OneDirection = enum.IntFlag


class SendFlags(_OneDirection):
    """Flags for ``send``, ``send_all`` and ``send_to`` (:apue:`16.5`, Fig. 16.13).

    ``MSG_NOSIGNAL`` is applied to every send whether or not you pass
    ``NOSIGNAL``: a vanished peer raises :class:`~transports.BrokenPipe`
    and never delivers ``SIGPIPE``.

    >>> flags = SendFlags.DONTWAIT | SendFlags.MORE
    >>> SendFlags.MORE in flags, SendFlags.OOB in flags
    (True, False)
    """

    NONE = 0
    #: Urgent (out-of-band) byte; TCP, and Unix streams on kernels built with it (:apue:`16.7`).
    OOB = _flag("send", "MSG_OOB", ("tcp", "unix"), _OOB_WHY, {"unix": unix_stream_oob})
    #: Bypass routing: deliver only to directly connected hosts.
    DONTROUTE = _flag("send", "MSG_DONTROUTE", ("tcp", "udp"), "routing exists only for IP sockets")
    #: Do not block: raise :class:`~transports.WouldBlock` instead (:apue:`16.8`).
    DONTWAIT = _flag("send", "MSG_DONTWAIT", _EVERYWHERE)
    #: End of record, for seqpacket sockets.
    EOR = _flag("send", "MSG_EOR", ("unixpacket",), "only seqpacket sockets mark the end of a record")
    #: Never raise SIGPIPE (always applied for you).
    NOSIGNAL = _flag("send", "MSG_NOSIGNAL", _EVERYWHERE)
    #: More data follows: cork this send into the next (TCP, UDP).
    MORE = _flag("send", "MSG_MORE", ("tcp", "udp"), "only TCP and UDP cork data into the next send")
    #: Tell the link layer the peer answered (UDP; skips ARP probing).
    CONFIRM = _flag("send", "MSG_CONFIRM", ("udp",), "only UDP confirms the neighbour to the link layer")


class RecvFlags(_OneDirection):
    """Flags for ``recv``, ``recv_into`` and ``recv_from`` (:apue:`16.5`, Fig. 16.14).

    ``MSG_TRUNC`` and ``MSG_CTRUNC`` are not here on purpose: they are
    results, reported as :attr:`~transports.Datagram.truncated` or
    :class:`~transports.MessageTruncated`, never options that change
    what a receive returns.
    """

    NONE = 0
    #: Read the urgent (out-of-band) byte (:apue:`16.7`).
    OOB = _flag("recv", "MSG_OOB", ("tcp", "unix"), _OOB_WHY, {"unix": unix_stream_oob})
    #: Look at the data without consuming it.
    PEEK = _flag("recv", "MSG_PEEK", _EVERYWHERE)
    #: Wait until the whole buffer is filled (streams; EOF or a signal can end it early).
    WAITALL = _flag(
        "recv", "MSG_WAITALL", _STREAMS, "only a byte stream can fill a buffer from several sends"
    )
    #: Do not block: raise :class:`~transports.WouldBlock` instead (:apue:`16.8`).
    DONTWAIT = _flag("recv", "MSG_DONTWAIT", _EVERYWHERE)


def _rows() -> tuple[FlagRule, ...]:
    rows = tuple(
        FlagRule(constant.removeprefix("MSG_"), constant, value, direction, networks, why_not, kernel)
        for direction, constant, value, networks, why_not, kernel in _pending
    )
    members = {(type(m).__name__, m.name) for flags in (SendFlags, RecvFlags) for m in flags if m}
    named = {("SendFlags" if row.direction == "send" else "RecvFlags", row.name) for row in rows}
    assert members == named, (
        f"every member is one _flag row named after its MSG_* constant: {members ^ named}"
    )
    return rows


#: Every flag, one row each: what it is on this platform and who can honour it.
FLAG_TABLE: Final = _rows()
_BY_NAME: Final = {(row.direction, row.name): row for row in FLAG_TABLE}
_MISSING_MASK: Final = sum(_MISSING_BASE << slot for slot in range(len(_missing)))
_MISSING_NAMES: Final = frozenset(_missing)


def unavailable_flags() -> frozenset[str]:
    """The ``MSG_*`` names this platform's :mod:`socket` module lacks."""
    return _MISSING_NAMES


@functools.cache
def allowed_masks(network: str) -> tuple[int, int]:
    """The send and receive flags a *network* transport accepts, as two int masks.

    Computed from :data:`FLAG_TABLE` once per network (a Unix stream asks the
    kernel about ``MSG_OOB`` the first time). A network the table does not
    know accepts no flag.
    """
    send = recv = 0
    for row in FLAG_TABLE:
        if row.honoured_by(network):
            assert row.value is not None
            if row.direction == "send":
                send |= row.value
            else:
                recv |= row.value
    return send, recv


def _names(flags: SendFlags | RecvFlags) -> str:
    members = [m for m in type(flags) if m.value and m in flags]
    names = [f"{type(flags).__name__}.{m.name}" for m in members]
    unknown = int(flags) & ~sum(int(m) for m in members)
    if unknown:  # bits no member has (an int cast to the enum): name them by value
        names.append(f"{type(flags).__name__}({unknown:#x})")
    return "|".join(names)


def _reasons(bad: SendFlags | RecvFlags, network: str) -> str:
    """Why *network* cannot honour each flag of *bad*, from the table (empty if it does not say)."""
    direction: Direction = "send" if isinstance(bad, SendFlags) else "recv"
    reasons: list[str] = []
    for member in type(bad):
        if not member.value or member not in bad or member.name is None:
            continue
        row = _BY_NAME[direction, member.name]
        if network in row.networks:
            why = (
                f"this kernel does not support {row.constant} on {network} sockets"
                if row.kernel.get(network)
                else ""
            )
        else:
            why = row.why_not
        if why and why not in reasons:
            reasons.append(why)
    return "; ".join(reasons)


def check_flags(
    flags: SendFlags | RecvFlags,
    expected: type[SendFlags] | type[RecvFlags],
    allowed: int,
    network: str,
) -> None:
    """Refuse *flags* unless every one is of type *expected* and in *allowed*.

    *allowed* is a mask, usually one of :func:`allowed_masks`. Accepting costs
    a type test and one ``&``. Refusing raises :class:`TypeError` for a value
    that is not an *expected* member (a bare int would bypass the check) and
    :class:`~transports.UnsupportedFlag` (a :class:`ValueError`) that
    names the flag, the transport and why, before any system call is made.
    """
    if flags.__class__ is not expected or flags._value_ & ~allowed:
        refuse_flags(flags, expected, allowed, network)


def refuse_flags(
    flags: object,
    expected: type[SendFlags] | type[RecvFlags],
    allowed: int,
    network: str,
) -> NoReturn:
    """Raise the error for *flags* that :func:`check_flags` did not accept: the slow, descriptive path."""
    if not isinstance(flags, expected):
        raise TypeError(
            f"{network}: expected {expected.__name__}, got {type(flags).__name__} "
            f"{flags!r}; pass {expected.__name__} members (SendFlags to send, RecvFlags to recv)"
        )
    value = int(flags)
    if value & _MISSING_MASK:
        bad = expected(value & _MISSING_MASK)
        raise UnsupportedFlag(
            f"{_names(bad)} is not available on this platform ({sys.platform}): "
            "its MSG_* constant is missing from the socket module; drop the flag",
            flag=bad,
            network=network,
        )
    refused = value & ~allowed
    if not refused:  # pragma: no cover - only reached through check_flags, which accepted these
        raise AssertionError(f"{flags!r} is allowed on {network}")
    bad = expected(refused)
    why = _reasons(bad, network)
    hint = _names(expected(allowed)) or "none"
    raise UnsupportedFlag(
        f"{_names(bad)} cannot be honoured by a {network} transport"
        f"{f': {why}' if why else ''}; flags it accepts: {hint}",
        flag=bad,
        network=network,
    )
