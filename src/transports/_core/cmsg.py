"""Control messages without I/O: which options to turn on, what came back, what to send (:apue:`16.5`).

``recvmsg``/``sendmsg`` carry, beside the data, a list of control messages
(``struct cmsghdr``: a level, a type and a few bytes), the same channel that
carries descriptors between Unix sockets (:apue:`17.4`). This module knows the
Linux numbers Python's :mod:`socket` lacks, turns what ``recvmsg`` returned
into plain values (:func:`parse_control`), and builds the packet-info message
that picks a datagram's source address (:func:`source_control`).
:mod:`transports.ancillary` makes the typed values and does the calls.
"""

from __future__ import annotations

import functools
import platform
import socket
import struct
import sys
from typing import NamedTuple

_LINUX = sys.platform.startswith("linux")
#: Machines whose ``asm/socket.h`` uses the generic numbers (alpha, mips,
#: parisc and sparc have their own; there SO_TIMESTAMPNS is left undefined).
_GENERIC_SOCKET_H = (
    "x86_64",
    "i386",
    "i486",
    "i586",
    "i686",
    "aarch64",
    "arm",
    "riscv",
    "ppc",
    "s390",
    "loongarch",
)


def _number(name: str, linux: int | None) -> int | None:
    """The platform's value of *name*: Python's if it has one, else Linux's *linux* on Linux, else None."""
    value = getattr(socket, name, None)
    if value is not None:
        return int(value)
    return linux if _LINUX else None


_GENERIC = _LINUX and platform.machine().lower().startswith(_GENERIC_SOCKET_H)

#: ``SOL_SOCKET`` option and control message type of nanosecond receive timestamps.
SO_TIMESTAMPNS = _number("SO_TIMESTAMPNS", 35 if _GENERIC else None)
#: IPv4 packet info: the destination address and interface of a datagram.
IP_PKTINFO = _number("IP_PKTINFO", 8)
#: IPv6: ask for packet info (option); the control message type is IPV6_PKTINFO.
IPV6_RECVPKTINFO = _number("IPV6_RECVPKTINFO", 49)
IPV6_PKTINFO = _number("IPV6_PKTINFO", 50)
#: Queue ICMP (and local) errors on the socket's error queue, IPv4 and IPv6.
IP_RECVERR = _number("IP_RECVERR", 11)
IPV6_RECVERR = _number("IPV6_RECVERR", 25)
#: Read the error queue instead of the data (``recvmsg`` flag).
MSG_ERRQUEUE = _number("MSG_ERRQUEUE", 0x2000) or 0
#: Set on return when control messages did not fit the buffer.
MSG_CTRUNC = int(getattr(socket, "MSG_CTRUNC", 0))
SOL_IP = int(getattr(socket, "SOL_IP", 0))
SOL_IPV6 = int(socket.IPPROTO_IPV6)

#: Room for every control message recv_msg can get at once (timestamp,
#: packet info, an extended error with its offender address), with slack.
CONTROL_SPACE = 512

#: struct sock_extended_err: errno, origin, type, code, pad, info, data.
_EXTENDED_ERR = struct.Struct("=IBBBBII")
#: struct in_pktinfo: ifindex, spec_dst (local address), addr (header destination).
_IN_PKTINFO = struct.Struct("=i4s4s")
#: struct in6_pktinfo: address, ifindex.
_IN6_PKTINFO = struct.Struct("=16sI")
_TIMESPEC64 = struct.Struct("=qq")
_AF_INET = int(socket.AF_INET)
_AF_INET6 = int(socket.AF_INET6)


class RawError(NamedTuple):
    """What ``struct sock_extended_err`` says, with its offender's address as text (or None)."""

    errno: int
    origin: int
    type: int
    code: int
    info: int
    offender: tuple[str, int] | None


class RawControl(NamedTuple):
    """The control messages of one ``recvmsg``, as plain values."""

    timestamp: tuple[int, int] | None
    destination: tuple[str, int] | None
    error: RawError | None


def option_plan(
    family: int, *, timestamps: bool, destination: bool, errors: bool
) -> list[tuple[str, int, int]]:
    """The ``(name, level, option)`` triples a socket of *family* needs for what was asked.

    Raises :class:`LookupError` naming the first option this platform or
    family does not have.
    """
    inet = family in (_AF_INET, _AF_INET6)
    wanted: list[tuple[str, int, int | None]] = []
    if timestamps:
        wanted.append(("SO_TIMESTAMPNS", socket.SOL_SOCKET, SO_TIMESTAMPNS))
    if destination:
        if not inet:
            raise LookupError("IP_PKTINFO (packet info is for IPv4 and IPv6 datagrams)")
        if family == _AF_INET:
            wanted.append(("IP_PKTINFO", SOL_IP, IP_PKTINFO))
        else:
            wanted.append(("IPV6_RECVPKTINFO", SOL_IPV6, IPV6_RECVPKTINFO))
    if errors:
        if not inet:
            raise LookupError("IP_RECVERR (the error queue holds ICMP errors of IPv4 and IPv6 datagrams)")
        # An IPv6 socket's IPv4-mapped traffic needs IP_RECVERR too; its own, IPV6_RECVERR.
        if family == _AF_INET:
            wanted.append(("IP_RECVERR", SOL_IP, IP_RECVERR))
        else:
            wanted.append(("IPV6_RECVERR", SOL_IPV6, IPV6_RECVERR))
    plan: list[tuple[str, int, int]] = []
    for name, level, number in wanted:
        if number is None:
            raise LookupError(f"{name} (not defined on {sys.platform} {platform.machine()})")
        plan.append((name, level, number))
    return plan


def _sockaddr(raw: bytes) -> tuple[str, int] | None:
    """Decode the ``struct sockaddr_in``/``sockaddr_in6`` the kernel put after an extended error."""
    if len(raw) < 2:
        return None
    family = int.from_bytes(raw[:2], sys.byteorder)
    if family == _AF_INET and len(raw) >= 8:
        return socket.inet_ntop(socket.AF_INET, raw[4:8]), int.from_bytes(raw[2:4], "big")
    if family == _AF_INET6 and len(raw) >= 24:
        return socket.inet_ntop(socket.AF_INET6, raw[8:24]), int.from_bytes(raw[2:4], "big")
    return None  # AF_UNSPEC: no offender (a local error)


@functools.lru_cache(maxsize=256)
def _pktinfo(ipv4: bool, data: bytes) -> tuple[str, int] | None:
    """Decode ``in_pktinfo``/``in6_pktinfo``; memoised: a server sees few local addresses."""
    if ipv4 and len(data) >= _IN_PKTINFO.size:
        ifindex, _, addr = _IN_PKTINFO.unpack_from(data)
        return socket.inet_ntop(socket.AF_INET, addr), ifindex
    if not ipv4 and len(data) >= _IN6_PKTINFO.size:
        addr, ifindex = _IN6_PKTINFO.unpack_from(data)
        return socket.inet_ntop(socket.AF_INET6, addr), ifindex
    return None


def _timespec(raw: bytes) -> tuple[int, int] | None:
    """struct timespec as the kernel's word size made it: two longs."""
    if len(raw) == 16:
        seconds, nanoseconds = _TIMESPEC64.unpack(raw)
    elif len(raw) == 8:  # pragma: no cover - 32-bit time_t
        seconds, nanoseconds = struct.unpack("=ii", raw)
    else:  # pragma: no cover - a layout we do not know
        return None
    return int(seconds), int(nanoseconds)


def parse_control(ancdata: list[tuple[int, int, bytes]]) -> RawControl:
    """Turn the ``(level, type, data)`` list of ``recvmsg`` into plain values; unknown messages are skipped."""
    timestamp: tuple[int, int] | None = None
    destination: tuple[str, int] | None = None
    error: RawError | None = None
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            timestamp = _timespec(data)
        elif (level == SOL_IP and kind == IP_PKTINFO) or (level == SOL_IPV6 and kind == IPV6_PKTINFO):
            destination = _pktinfo(kind == IP_PKTINFO and level == SOL_IP, data)
        elif (
            (level == SOL_IP and kind == IP_RECVERR) or (level == SOL_IPV6 and kind == IPV6_RECVERR)
        ) and len(data) >= _EXTENDED_ERR.size:
            code, origin, icmp_type, icmp_code, _, info, _ = _EXTENDED_ERR.unpack_from(data)
            offender = _sockaddr(data[_EXTENDED_ERR.size :])
            error = RawError(code, origin, icmp_type, icmp_code, info, offender)
    return RawControl(timestamp, destination, error)


def source_control(family: int, source: str, interface: int) -> tuple[int, int, bytes]:
    """The control message that sends a datagram from *source* (and out of *interface*, 0 for any).

    IPv4: ``IP_PKTINFO`` with ``ipi_spec_dst`` set; IPv6 (also for an
    IPv4-mapped source on a dual-stack socket): ``IPV6_PKTINFO``. Raises
    :class:`LookupError` where the platform lacks them and :class:`ValueError`
    for a source of the wrong family.
    """
    if family == _AF_INET:
        if IP_PKTINFO is None:  # pragma: no cover - BSD has IP_SENDSRCADDR instead
            raise LookupError(f"IP_PKTINFO (not defined on {sys.platform})")
        packed = socket.inet_pton(socket.AF_INET, source)
        return SOL_IP, IP_PKTINFO, _IN_PKTINFO.pack(interface, packed, bytes(4))
    if IPV6_PKTINFO is None:  # pragma: no cover
        raise LookupError(f"IPV6_PKTINFO (not defined on {sys.platform})")
    if ":" not in source:
        source = f"::ffff:{source}"  # an IPv4 source on a dual-stack socket
    return SOL_IPV6, IPV6_PKTINFO, _IN6_PKTINFO.pack(socket.inet_pton(socket.AF_INET6, source), interface)
