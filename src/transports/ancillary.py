"""Typed ancillary data of datagrams: timestamps, packet info, queued network errors (:apue:`16.5`).

``recvmsg(2)`` hands back, beside a datagram, control messages the socket
was asked for with an option: when the datagram arrived (``SO_TIMESTAMPNS``),
which local address and interface it was sent to (``IP_PKTINFO`` /
``IPV6_RECVPKTINFO``), and, from the socket's error queue (``MSG_ERRQUEUE``),
the ICMP errors that came back for datagrams this socket sent (``IP_RECVERR``
/ ``IPV6_RECVERR``). ``sendmsg(2)`` takes one too: packet info that picks the
source address of a reply. :class:`~transports.ancillary.AncillaryMixin`
gives a datagram transport ``recv_msg`` and ``send_from``;
:class:`~transports.ancillary.AsyncAncillaryMixin` is the async twin. The
bytes are decoded in ``transports._core.cmsg``. Linux only for packet info
and errors; timestamps also on Unix datagram sockets.
"""

from __future__ import annotations

import enum
import functools
import os
import select
import socket
import struct
import weakref
from typing import TYPE_CHECKING, Any

import attrs

from transports._compat import Buffer
from transports._core import cmsg
from transports._core.sockflags import DONTWAIT, NOSIGNAL, TRUNC_IN, TRUNC_OUT
from transports._core.transport import AddrT, SocketTransport
from transports._core.validate import check_size
from transports.addresses import Address, InetAddress, UnixAddress
from transports.errors import (
    AddressError,
    TransportClosed,
    TransportError,
    TransportTimeout,
    UnsupportedOption,
    WouldBlock,
)
from transports.flags import RecvFlags, SendFlags
from transports.kinds import Kind
from transports.options import SocketOption, flag_option
from transports.protocols import Destination

if TYPE_CHECKING:
    from transports.aio._core import AsyncSocketTransport

    _AsyncBase = AsyncSocketTransport[Any, Any]
else:
    _AsyncBase = object

__all__ = [
    "IPV6_RECVERR",
    "IPV6_RECVPKTINFO",
    "IP_PKTINFO",
    "IP_RECVERR",
    "SO_TIMESTAMPNS",
    "AncillaryMixin",
    "AsyncAncillaryMixin",
    "ErrorOrigin",
    "PacketInfo",
    "QueuedError",
    "ReceivedMessage",
    "Timestamp",
]


@attrs.frozen
class Timestamp:
    """When the kernel received a datagram, from ``SO_TIMESTAMPNS`` (:apue:`16.5`).

    Seconds and nanoseconds since the epoch, as ``struct timespec`` has them
    (a float would lose the nanoseconds); ``time`` is the float to
    compare with ``time.time()``.
    """

    seconds: int
    nanoseconds: int

    @property
    def time(self) -> float:
        """Seconds since the epoch as a float, like ``time.time()``."""
        return self.seconds + self.nanoseconds / 1e9


@attrs.frozen
class PacketInfo:
    """Where a datagram was sent to: a local IP address and an interface index (:apue:`16.5`).

    Received with ``recv_msg(..., destination=True)`` (``IP_PKTINFO`` /
    ``IPV6_PKTINFO``); pass it as the source of ``send_from`` to answer from
    the address (and out of the interface) the request came to.
    ``interface`` 0 means any; ``socket.if_indextoname`` names the others.
    """

    address: str
    interface: int = 0


class ErrorOrigin(enum.IntEnum):
    """Who reported a queued error (``ee_origin`` of ``struct sock_extended_err``, :apue:`16.5`)."""

    NONE = 0
    LOCAL = 1
    ICMP = 2
    ICMP6 = 3
    TXSTATUS = 4
    ZEROCOPY = 5
    TXTIME = 6


@attrs.frozen
class QueuedError:
    """An error the network reported for a datagram this socket sent, from its error queue (:apue:`16.5`).

    A value, not an exception: ``recv_msg(errors=True)`` returns it in
    :attr:`ReceivedMessage.error <transports.ancillary.ReceivedMessage.error>`
    instead of raising. ``errno`` is what a plain receive would have raised
    (``ECONNREFUSED`` for ICMP port unreachable); ``origin`` says who
    reported it; ``type`` and ``code`` are the ICMP type and code; ``info``
    carries e.g. the path MTU for ``EMSGSIZE``; ``offender`` is the host
    that sent the ICMP message.
    """

    errno: int
    origin: ErrorOrigin | int
    type: int
    code: int
    info: int = 0
    offender: InetAddress | None = None

    @property
    def strerror(self) -> str:
        """The error's text, as ``os.strerror`` gives it."""
        return os.strerror(self.errno)


@attrs.frozen(kw_only=True)
class ReceivedMessage:
    """One datagram from ``recv_msg`` and the control data that came with it (:apue:`16.5`).

    ``data``, ``address``, ``truncated`` and ``size`` mean what they mean in
    :class:`~transports.Datagram`. Each control field is ``None`` unless it
    was asked for and the kernel sent it. When ``error`` is set, the
    message came from the error queue: ``data`` is the start of the datagram
    that failed and ``address`` where it was sent. ``control_truncated`` is
    True when control messages did not fit (``MSG_CTRUNC``).
    """

    data: bytes
    address: Address
    truncated: bool = False
    size: int | None = None
    timestamp: Timestamp | None = None
    destination: PacketInfo | None = None
    error: QueuedError | None = None
    control_truncated: bool = False


_INET = frozenset({socket.AF_INET, socket.AF_INET6})
_DGRAM = frozenset({Kind.DATAGRAM})


def _flag_option(
    name: str, level: int, number: int | None, families: frozenset[int], doc: str
) -> SocketOption[bool]:
    return flag_option(name, level, number, families, _DGRAM, doc)


SO_TIMESTAMPNS = _flag_option(
    "SO_TIMESTAMPNS",
    socket.SOL_SOCKET,
    cmsg.SO_TIMESTAMPNS,
    frozenset({*_INET, getattr(socket, "AF_UNIX", -1)}),
    "Stamp each received datagram with its arrival time (recv_msg turns it on when asked).",
)
IP_PKTINFO = _flag_option(
    "IP_PKTINFO",
    cmsg.SOL_IP,
    cmsg.IP_PKTINFO,
    frozenset({socket.AF_INET}),
    "Report each IPv4 datagram's destination address and interface (recv_msg turns it on when asked).",
)
IPV6_RECVPKTINFO = _flag_option(
    "IPV6_RECVPKTINFO",
    cmsg.SOL_IPV6,
    cmsg.IPV6_RECVPKTINFO,
    frozenset({socket.AF_INET6}),
    "Report each IPv6 datagram's destination address and interface (recv_msg turns it on when asked).",
)
IP_RECVERR = _flag_option(
    "IP_RECVERR",
    cmsg.SOL_IP,
    cmsg.IP_RECVERR,
    _INET,
    "Queue ICMP errors for recv_msg(errors=True); plain receives on an unconnected socket then raise them too.",
)
IPV6_RECVERR = _flag_option(
    "IPV6_RECVERR",
    cmsg.SOL_IPV6,
    cmsg.IPV6_RECVERR,
    frozenset({socket.AF_INET6}),
    "IP_RECVERR for ICMPv6 errors on an IPv6 socket.",
)

#: What recv_msg already turned on (or found on) per socket: bit 1 timestamps,
#: 2 packet info, 4 errors. Keyed weakly: a closed transport's socket leaves.
_ENABLED: weakref.WeakKeyDictionary[socket.socket, int] = weakref.WeakKeyDictionary()
_TIMESTAMPS, _DESTINATION, _ERRORS = 1, 2, 4
_POLLERR = select.POLLERR


#: A server sees few local addresses: their PacketInfo values are shared (frozen, so safe).
_packet_info = functools.lru_cache(maxsize=256)(PacketInfo)


def _typed_error(raw: cmsg.RawError) -> QueuedError:
    try:
        origin: ErrorOrigin | int = ErrorOrigin(raw.origin)
    except ValueError:  # an origin newer than this table: keep the number
        origin = raw.origin
    offender = InetAddress(*raw.offender) if raw.offender is not None else None
    return QueuedError(raw.errno, origin, raw.type, raw.code, raw.info, offender)


class AncillaryMixin(SocketTransport[AddrT]):
    """``recv_msg`` with typed control data and ``send_from`` for datagram transports (:apue:`16.5`).

    Control options are turned on when a call first asks for them, and
    only those that change nothing for other calls: timestamps and packet
    info (plain receives ignore them). The error queue changes what plain
    receives raise (an unconnected socket starts reporting ICMP errors), so
    ``errors=True`` needs ``IP_RECVERR`` turned on by the caller, at bind
    (``options=[IP_RECVERR(True)]``) or with ``set_option``.
    """

    __slots__ = ()

    def _refuse_recv_msg(self) -> None:
        """Raise if this socket cannot honestly hand out datagrams through recv_msg (a kind may say so)."""

    def recv_msg(
        self,
        max_bytes: int,
        flags: RecvFlags = RecvFlags.NONE,
        *,
        timestamps: bool = False,
        destination: bool = False,
        errors: bool = False,
    ) -> ReceivedMessage:
        """Receive one datagram with the control data asked for (:apue:`16.5`).

        *timestamps*: its arrival time (:class:`~transports.ancillary.Timestamp`); *destination*:
        the local address and interface it was sent to (:class:`~transports.ancillary.PacketInfo`,
        IPv4/IPv6 only); *errors*: return a queued network error
        (:class:`~transports.ancillary.QueuedError`, IPv4/IPv6 only, ``IP_RECVERR`` must be on)
        instead of the next datagram, or of raising it. A datagram that did
        not fit is reported in ``truncated``, never cut silently.
        """
        self._refuse_recv_msg()
        check_size("max_bytes", max_bytes)
        want = (
            (_TIMESTAMPS if timestamps else 0)
            | (_DESTINATION if destination else 0)
            | (_ERRORS if errors else 0)
        )
        bits = self._recv_bits(flags) if flags else 0  # a refused flag changes nothing on the socket
        sock = self._sock
        if want & ~_ENABLED.get(sock, 0):
            self._anc_turn_on(want, timestamps=timestamps, destination=destination, errors=errors)
        if errors:
            queued = self._anc_error_queue(max_bytes)
            if queued is not None:
                return queued
        room = self._room(max_bytes, flags, "recv_msg")
        buffer = bytearray(room)
        try:
            count, ancdata, msg_flags, sender = self._receive(
                "recv_msg", bits, sock.recvmsg_into, [buffer], cmsg.CONTROL_SPACE, bits | TRUNC_IN
            )
        except TransportError as exc:
            # With IP_RECVERR on, an ICMP error also wakes a receive with its errno: hand it over typed.
            if errors and not isinstance(exc, WouldBlock | TransportTimeout | TransportClosed):
                queued = self._anc_error_queue(max_bytes)
                if queued is not None:
                    return queued
            raise
        cut = count > room or bool(msg_flags & TRUNC_OUT)
        size = count if not cut or TRUNC_IN else None
        return self._anc_message(bytes(buffer[: min(count, room)]), sender, cut, size, ancdata, msg_flags)

    def send_from(
        self, data: Buffer, address: Destination, source: str | PacketInfo, flags: SendFlags = SendFlags.NONE
    ) -> int:
        """Send one datagram to *address* from the local IP address *source* (:apue:`16.5`).

        A server bound to every address (``0.0.0.0`` or ``::``) answers
        from the address a request came to: pass the request's
        :attr:`ReceivedMessage.destination <transports.ancillary.ReceivedMessage.destination>`
        (its interface is kept) or an address string. Built as ``IP_PKTINFO``/``IPV6_PKTINFO`` for
        ``sendmsg``; Linux only, IPv4 and IPv6 only.
        """
        family = self._sock.family
        if family not in _INET:
            raise self._anc_unsupported(
                "send_to",
                "a source address is for UDP (IP_PKTINFO); a Unix datagram socket sends from "
                "the name it is bound to",
            )
        info = source if isinstance(source, PacketInfo) else PacketInfo(source)
        try:
            control = cmsg.source_control(family, info.address, info.interface)
        except (OSError, ValueError, TypeError, struct.error) as exc:
            raise AddressError(
                f"send_to {self._where()}: source {source!r} is not an IP address of this "
                f"socket's family ({family.name}) and interface index; give an IP literal"
            ) from exc
        except LookupError as exc:  # pragma: no cover - not Linux
            raise self._anc_unsupported("send_to", self._anc_lacks(str(exc))) from None
        target = _inet_target(address)
        bits = self._send_bits(flags) if flags else NOSIGNAL
        try:
            return self._call(bits, self._sock.sendmsg, [data], [control], bits, target)
        except TransportError:
            raise
        except OSError as exc:
            raise self._send_error(exc, "send_to", data) from exc

    # -- the parts -----------------------------------------------------------------------

    def _anc_unsupported(self, op: str, problem: str) -> UnsupportedOption:
        """The refusal of something this transport cannot do, or has not been set up for."""
        return UnsupportedOption(f"{op} {self._where()}: {problem}", op=op, address=self._where())

    def _anc_lacks(self, what: str) -> str:
        return (
            f"needs {what}, which this {self.network} transport cannot have; ask only for "
            "what its family has (timestamps work on every datagram socket)"
        )

    def _anc_turn_on(self, want: int, *, timestamps: bool, destination: bool, errors: bool) -> None:
        sock = self._sock
        try:
            plan = cmsg.option_plan(
                sock.family, timestamps=timestamps, destination=destination, errors=errors
            )
        except LookupError as exc:
            raise self._anc_unsupported("recv_msg", self._anc_lacks(str(exc))) from None
        for name, level, number in plan:
            if name.endswith("RECVERR"):
                if not self._anc_option_on(level, number, name):
                    raise self._anc_unsupported(
                        "recv_msg",
                        f"errors=True needs {name}, which is off, so no error was queued; turn it on "
                        f"before sending, at bind (options=[{name}(True)]) or with set_option({name}, True); "
                        "it is not turned on here because it makes plain receives on an unconnected "
                        "socket raise ICMP errors too",
                    )
                continue
            try:
                sock.setsockopt(level, number, 1)
            except OSError as exc:
                raise self._error(exc, f"set {name} on") from exc
        _ENABLED[sock] = _ENABLED.get(sock, 0) | want

    def _anc_option_on(self, level: int, number: int, name: str) -> bool:
        try:
            return bool(self._sock.getsockopt(level, number))
        except OSError as exc:
            raise self._error(exc, f"get {name} of") from exc

    def _anc_error_queue(self, max_bytes: int) -> ReceivedMessage | None:
        """The first queued error as a message, or None when the queue is empty (it never waits)."""
        sock = self._sock
        if sock.fileno() == -1:
            return None  # closed: the receive reports it
        poller = select.poll()
        poller.register(sock, _POLLERR)
        if not any(events & _POLLERR for _, events in poller.poll(0)):
            return None
        room = min(max_bytes, 1 << 16)
        buffer = bytearray(room)
        flags = cmsg.MSG_ERRQUEUE | DONTWAIT
        try:
            count, ancdata, msg_flags, sender = self._receive(
                "recv_msg", 0, sock.recvmsg_into, [buffer], cmsg.CONTROL_SPACE, flags
            )
        except WouldBlock:
            return None
        cut = bool(msg_flags & TRUNC_OUT)
        return self._anc_message(
            bytes(buffer[:count]), sender, cut, None if cut else count, ancdata, msg_flags
        )

    def _anc_message(
        self,
        data: bytes,
        sender: Any,
        cut: bool,
        size: int | None,
        ancdata: list[tuple[int, int, bytes]],
        msg_flags: int,
    ) -> ReceivedMessage:
        raw = cmsg.parse_control(ancdata)
        return ReceivedMessage(
            data=data,
            address=self._address(sender) if sender is not None else UnixAddress(""),
            truncated=cut,
            size=size,
            timestamp=Timestamp(*raw.timestamp) if raw.timestamp is not None else None,
            destination=_packet_info(*raw.destination) if raw.destination is not None else None,
            error=_typed_error(raw.error) if raw.error is not None else None,
            control_truncated=bool(msg_flags & cmsg.MSG_CTRUNC),
        )


def _inet_target(address: Destination) -> tuple[str, int]:
    if isinstance(address, InetAddress):
        return address.to_sockaddr()
    if isinstance(address, tuple) and len(address) == 2:
        return InetAddress(*address).to_sockaddr()
    raise AddressError(
        f"send_to with a source goes to an InetAddress or a (host, port) tuple, got {address!r}"
    )


class AsyncAncillaryMixin(_AsyncBase):
    """The async twin of :class:`~transports.ancillary.AncillaryMixin` (:apue:`16.5`, :apue:`16.8`, :apue:`14.4`).

    The sync transport does every check, call and decoding; this side only
    waits on the event loop when the socket has nothing yet. A queued error
    wakes the wait too (the loop sees the socket's error condition).
    """

    __slots__ = ()

    async def recv_msg(
        self,
        max_bytes: int,
        flags: RecvFlags = RecvFlags.NONE,
        *,
        timestamps: bool = False,
        destination: bool = False,
        errors: bool = False,
    ) -> ReceivedMessage:
        """Receive one datagram with the control data asked for (:apue:`16.5`, :apue:`16.8`, :apue:`14.4`).

        As :meth:`AncillaryMixin.recv_msg <transports.ancillary.AncillaryMixin.recv_msg>`, waiting on the event loop.
        """
        sync: AncillaryMixin[Any] = self._sync

        def call() -> ReceivedMessage:
            return sync.recv_msg(
                max_bytes, flags, timestamps=timestamps, destination=destination, errors=errors
            )

        return await self._retry(False, "recv_msg", flags, call)

    async def send_from(
        self, data: Buffer, address: Destination, source: str | PacketInfo, flags: SendFlags = SendFlags.NONE
    ) -> int:
        """Send one datagram to *address* from *source* (:apue:`16.5`, :apue:`16.8`, :apue:`14.4`).

        As :meth:`AncillaryMixin.send_from <transports.ancillary.AncillaryMixin.send_from>`,
        waiting on the event loop while the send buffer is full.
        """
        sync: AncillaryMixin[Any] = self._sync
        return await self._retry(True, "send_to", flags, sync.send_from, data, address, source, flags)
