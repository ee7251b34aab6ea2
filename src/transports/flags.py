"""``SendFlags`` and ``RecvFlags``: the MSG_* flags of APUE 16.5 Data Transfer.

The values are the platform's own ``MSG_*`` constants, so a flag is passed to
the kernel unchanged. A flag this platform does not define still exists as a
member (so code type-checks everywhere) but carries a private bit that no
kernel knows; every transport refuses it before the system call with an error
that names the flag and the platform, instead of silently ignoring it.

Which flags a transport accepts depends on its kind and domain: each
transport class lists the flags it can honour, and :func:`check_flags` refuses
the rest (for example ``SendFlags.OOB`` on UDP, where out-of-band data does not
exist, APUE 16.7).
"""

from __future__ import annotations

import enum
import socket
import sys
from typing import Final

__all__ = ["RecvFlags", "SendFlags", "check_flags", "unavailable_flags"]

# A bit no kernel uses, for flags this platform lacks. The members stay
# distinct (not aliases of NONE) so that asking for one is always noticed.
_MISSING_BASE: Final = 1 << 40
_missing: list[str] = []


def _msg(name: str, slot: int) -> int:
    value = getattr(socket, name, None)
    if value is None:
        _missing.append(name)
        return _MISSING_BASE << slot
    return int(value)


class SendFlags(enum.IntFlag):
    """Flags for ``send``, ``send_all`` and ``send_to`` (APUE 16.5 Data Transfer, Fig. 16.13).

    ``MSG_NOSIGNAL`` is applied to every send whether or not you pass
    ``NOSIGNAL``: a vanished peer raises :class:`~transports.errors.BrokenPipe`
    and never delivers ``SIGPIPE``.

    >>> flags = SendFlags.DONTWAIT | SendFlags.MORE
    >>> SendFlags.MORE in flags, SendFlags.OOB in flags
    (True, False)
    """

    NONE = 0
    #: Urgent (out-of-band) byte; TCP, and Unix streams on kernels built with it (APUE 16.7).
    OOB = _msg("MSG_OOB", 0)
    #: Bypass routing: deliver only to directly connected hosts.
    DONTROUTE = _msg("MSG_DONTROUTE", 1)
    #: Do not block: raise :class:`~transports.errors.WouldBlock` instead (APUE 16.8).
    DONTWAIT = _msg("MSG_DONTWAIT", 2)
    #: End of record, for seqpacket sockets.
    EOR = _msg("MSG_EOR", 3)
    #: Never raise SIGPIPE (always applied for you).
    NOSIGNAL = _msg("MSG_NOSIGNAL", 4)
    #: More data follows: cork this send into the next (TCP, UDP).
    MORE = _msg("MSG_MORE", 5)
    #: Tell the link layer the peer answered (UDP; skips ARP probing).
    CONFIRM = _msg("MSG_CONFIRM", 6)


class RecvFlags(enum.IntFlag):
    """Flags for ``recv``, ``recv_into`` and ``recv_from`` (APUE 16.5 Data Transfer, Fig. 16.14).

    ``MSG_TRUNC`` and ``MSG_CTRUNC`` are not here on purpose: they are
    results, reported as :attr:`~transports.addresses.Datagram.truncated` or
    :class:`~transports.errors.MessageTruncated`, never options that change
    what a receive returns.
    """

    NONE = 0
    #: Read the urgent (out-of-band) byte (APUE 16.7).
    OOB = _msg("MSG_OOB", 7)
    #: Look at the data without consuming it.
    PEEK = _msg("MSG_PEEK", 8)
    #: Wait until the whole buffer is filled (streams; EOF or a signal can end it early).
    WAITALL = _msg("MSG_WAITALL", 9)
    #: Do not block: raise :class:`~transports.errors.WouldBlock` instead (APUE 16.8).
    DONTWAIT = _msg("MSG_DONTWAIT", 10)


_MISSING_MASK: Final = sum(_MISSING_BASE << slot for slot in range(11))
_MISSING_NAMES: Final = frozenset(_missing)


def unavailable_flags() -> frozenset[str]:
    """The ``MSG_*`` names this platform's :mod:`socket` module lacks."""
    return _MISSING_NAMES


def _names(flags: enum.IntFlag) -> str:
    members = [m for m in type(flags) if m.value and m in flags]
    names = [f"{type(flags).__name__}.{m.name}" for m in members]
    unknown = int(flags) & ~sum(int(m) for m in members)
    if unknown:  # bits no member has (an int cast to the enum): name them by value
        names.append(f"{type(flags).__name__}({unknown:#x})")
    return "|".join(names)


def check_flags(
    flags: SendFlags | RecvFlags,
    expected: type[SendFlags] | type[RecvFlags],
    allowed: int,
    network: str,
) -> None:
    """Refuse *flags* unless every one is of type *expected* and in *allowed*.

    Raises :class:`~transports.errors.UnsupportedFlag` (a :class:`ValueError`
    and an :class:`OSError`) that names the flag and the transport, before any
    system call is made.
    """
    from transports.errors import UnsupportedFlag

    if not isinstance(flags, expected):
        raise TypeError(
            f"{network}: expected {expected.__name__}, got {type(flags).__name__} "
            f"{flags!r}; pass {expected.__name__} members (SendFlags to send, RecvFlags to recv)"
        )
    if flags & _MISSING_MASK:
        bad = expected(flags & _MISSING_MASK)
        raise UnsupportedFlag(
            f"{_names(bad)} is not available on this platform ({sys.platform}): "
            "its MSG_* constant is missing from the socket module; drop the flag",
            flag=bad,
            network=network,
        )
    refused = flags & ~allowed
    if refused:
        bad = expected(refused)
        ok = expected(allowed)
        hint = _names(ok) or "none"
        raise UnsupportedFlag(
            f"{_names(bad)} cannot be honoured by a {network} transport; flags it accepts: {hint}",
            flag=bad,
            network=network,
        )
