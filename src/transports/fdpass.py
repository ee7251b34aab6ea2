"""Passing descriptors and asking who the peer is (:apue:`17.4`, :apue:`17.3`).

Over a Unix-domain socket a process can hand another process an open file
descriptor: the kernel installs a new descriptor for the same open file in
the receiver (``SCM_RIGHTS`` ancillary data). The same sockets can tell a
server which user and process is at the other end (``SO_PEERCRED``, the
check that ``serv_accept`` makes in APUE's Unique Connections).

A datagram carries no connection to ask, so its sender's credentials come
with the datagram itself (``SCM_CREDENTIALS``) when the receiver has
:data:`SO_PASSCRED` on: ``recv_credentials_on`` reads them.

The work is done by functions over a transport (``send_fds_on``,
``recv_fds_on``, :func:`credentials_of`, ``recv_credentials_on``); :class:`FdPassingMixin`, the base
of the three Unix-domain kinds, holds the thin public methods.

Compared with the standard library's ``socket.send_fds``/``recv_fds``:
received descriptors are close-on-exec, flags are honoured, a control
message that did not fit (``MSG_CTRUNC``) is an error with every received
descriptor closed, and descriptors are refused on TCP and UDP (where Linux
would drop them silently) simply by not being offered there.
"""

from __future__ import annotations

import array
import contextlib
import errno
import functools
import os
import socket
import struct
import sys
from collections.abc import Iterable
from typing import Any, Self

import attrs

from transports._compat import Buffer
from transports._core.message import MessageMixin
from transports._core.owner import pid_global
from transports._core.sockets import check_adoptable
from transports._core.sockflags import NOSIGNAL, TRUNC_IN, TRUNC_OUT
from transports._core.transport import DGRAM_DIRECT, SocketTransport
from transports._core.unixpath import socket_pair
from transports._core.validate import check_size
from transports._handles import HasFileno
from transports.addresses import Datagram, UnixAddress, make_datagram
from transports.credentials import Credentials
from transports.errors import (
    AddressError,
    FdsTruncated,
    NotConnected,
    PeerRejected,
    TransportError,
    UnsupportedFlag,
    translate_os_error,
)
from transports.flags import RecvFlags, SendFlags
from transports.kinds import Kind
from transports.options import SocketOption, flag_option
from transports.pidfd import peer_pidfd

__all__ = ["MAX_FDS", "SO_PASSCRED", "Credentials", "FdPassingMixin", "ReceivedFds", "credentials_of"]

#: The most descriptors Linux carries in one message (SCM_MAX_FD).
MAX_FDS = 253

_CLOEXEC = int(getattr(socket, "MSG_CMSG_CLOEXEC", 0))
_CTRUNC = int(getattr(socket, "MSG_CTRUNC", 0))
_INT_SIZE = array.array("i").itemsize
_FD_LIMIT = 2 ** (8 * _INT_SIZE - 1) - 1  # a descriptor is a C int
#: What SO_PEERCRED reports for uid and gid when the socket has no peer ((uid_t)-1).
_NO_ID = 0xFFFFFFFF
#: struct ucred, as SO_PEERCRED and SCM_CREDENTIALS carry it: pid_t, uid_t, gid_t.
_UCRED = struct.Struct("iII")
_SCM_CREDENTIALS = getattr(socket, "SCM_CREDENTIALS", None)
#: Control space for one SCM_CREDENTIALS message (and nothing else).
_CREDENTIALS_SPACE = socket.CMSG_SPACE(_UCRED.size) if hasattr(socket, "CMSG_SPACE") else 0
_RECV_BITS = TRUNC_IN | _CLOEXEC
#: This process's pid, renewed at fork by transports._core.owner: calls in flight carry it.
_PID = pid_global(globals())


#: Attach each sender's credentials to the datagrams this socket receives
#: (``SCM_CREDENTIALS``, Linux). ``UnixDatagramTransport.bind(credentials=True)``
#: turns it on before binding, so that no datagram arrives without them (:apue:`17.3`).
SO_PASSCRED: SocketOption[bool] = flag_option(
    "SO_PASSCRED",
    socket.SOL_SOCKET,
    getattr(socket, "SO_PASSCRED", None),
    frozenset({socket.AF_UNIX}),
    frozenset({Kind.DATAGRAM}),
    "Attach the sender's credentials (SCM_CREDENTIALS) to each datagram received.",
)


@attrs.frozen
class ReceivedFds:
    """A message and the descriptors that came with it (:apue:`17.4`).

    The descriptors are new, close-on-exec, and yours to close (``os.close``,
    or wrap them with ``os.fdopen``/``socket.socket(fileno=...)``).
    ``truncated`` is True when a datagram or seqpacket message was longer than
    *max_bytes*; ``address`` is the sender of a datagram (None on connected kinds).
    """

    data: bytes
    fds: tuple[int, ...]
    truncated: bool = False
    address: UnixAddress | None = None


def _fd_number(item: int | HasFileno) -> int:
    fd = item if isinstance(item, int) and not isinstance(item, bool) else None
    if fd is None:
        fileno = getattr(item, "fileno", None)
        if fileno is None:
            raise TypeError(f"send_fds takes descriptors (ints) or objects with fileno(), got {item!r}")
        fd = fileno()
    if fd < 0:
        raise ValueError(f"send_fds: {item!r} has no open descriptor (fileno {fd}); is it closed?")
    if fd > _FD_LIMIT:
        raise ValueError(f"send_fds: {item!r} is not a descriptor number (at most {_FD_LIMIT})")
    return fd


def credentials_of(sock: socket.socket, where: str, *, pidfd: bool = False) -> Credentials:
    """Read the peer's credentials of a connected Unix socket (SO_PEERCRED or its BSD cousins, :apue:`17.3`).

    With *pidfd* the result also carries a :class:`~transports.pidfd.PidFd`
    of the peer (``SO_PEERPIDFD``), or None where the kernel gives none.
    """
    try:
        if hasattr(socket, "SO_PEERCRED"):
            raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("iII"))
            pid, uid, gid = struct.unpack("iII", raw)  # struct ucred: pid_t, uid_t, gid_t
            if uid == _NO_ID and gid == _NO_ID:
                # Linux answers instead of failing when nobody connected to this
                # socket (a bound or connect()ed datagram socket): no peer to describe.
                raise NotConnected(
                    f"peer_credentials of {where}: this socket has no connected peer whose "
                    "credentials the kernel recorded (only stream and seqpacket connections "
                    "and socketpair ends have them)",
                    errno=errno.ENOTCONN,
                    op="peer_credentials",
                    address=where,
                )
            if pidfd:
                return Credentials(pid, uid, gid, pidfd=peer_pidfd(sock, pid))
            return Credentials(pid, uid, gid)
        peercred = getattr(socket, "LOCAL_PEERCRED", None)
        if peercred is not None:  # pragma: no cover - macOS and FreeBSD
            # struct xucred: u_int version; uid_t uid; short ngroups; gid_t groups[16]
            raw = sock.getsockopt(0, peercred, struct.calcsize("IIh2x16I"))
            _, uid, ngroups, *groups = struct.unpack("IIh2x16I", raw)
            pidopt = getattr(socket, "LOCAL_PEERPID", None)
            pid = sock.getsockopt(0, pidopt) if pidopt is not None else -1
            return Credentials(pid, uid, groups[0] if ngroups else -1)
    except OSError as exc:
        raise translate_os_error(exc, "peer_credentials of", where) from exc
    raise TransportError(  # pragma: no cover - platforms with neither option
        f"peer_credentials {where}: this platform ({sys.platform}) has no way to ask a "
        "socket for its peer's credentials",
        op="peer_credentials",
        address=where,
    )


def send_fds_on(
    transport: SocketTransport[UnixAddress],
    data: Buffer,
    fds: Iterable[int | HasFileno],
    flags: SendFlags,
    address: UnixAddress | str | os.PathLike[str] | None,
) -> int:
    """``send_fds`` on *transport* (see :meth:`FdPassingMixin.send_fds`): one ``sendmsg`` with ``SCM_RIGHTS``."""
    numbers = [_fd_number(item) for item in fds]
    if len(numbers) > MAX_FDS:
        raise ValueError(
            f"send_fds: {len(numbers)} descriptors in one message; the kernel takes at most {MAX_FDS}"
        )
    with memoryview(data) as view:
        empty = view.nbytes == 0
    if empty and numbers and transport.kind is Kind.STREAM:
        raise ValueError(
            "send_fds on a stream needs at least one byte of data: Linux drops descriptors sent with none"
        )
    bits = transport._send_bits(flags) if flags else NOSIGNAL
    if flags & SendFlags.OOB:
        # Linux attaches the descriptors to the urgent byte, and no receive hands them out.
        raise UnsupportedFlag(
            f"SendFlags.OOB cannot be honoured by send_fds on a {transport.network} transport: "
            "the descriptors would be lost with the urgent byte; send that byte with send()",
            flag=SendFlags.OOB,
            network=transport.network,
        )
    ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", numbers))] if numbers else []
    target: tuple[Any, ...] = ()
    if address is not None:
        if transport.kind is not Kind.DATAGRAM:
            raise AddressError("send_fds: only a datagram transport takes an address; this one is connected")
        target = (UnixAddress.coerce(address).to_sockaddr(),)
    sock = transport.raw_socket
    try:
        return transport._call(bits, sock.sendmsg, [data], ancillary, bits, *target)
    except TransportError:
        raise
    except OSError as exc:
        if exc.errno == errno.EBADF and not transport.closed:
            shut = _not_open(numbers)
            raise ValueError(
                f"send_fds {transport._where()}: descriptor(s) {shut or numbers} are not open; nothing was sent"
            ) from exc
        raise transport._send_error(exc, "send_fds", data) from exc


def recv_fds_on(
    transport: SocketTransport[UnixAddress],
    max_bytes: int,
    max_fds: int,
    flags: RecvFlags,
    allowed: frozenset[int] | None = None,
    credentials: bool = False,
) -> ReceivedFds:
    """``recv_fds`` on *transport* (see :meth:`FdPassingMixin.recv_fds`): one ``recvmsg``, no descriptor leaked.

    With *credentials* (a socket bound with them, which gets them with every
    message) room is left for them, so that they never crowd out the
    descriptors. With *allowed*, a sender whose uid is not in it is
    :class:`~transports.PeerRejected` and its descriptors are closed.
    """
    if check_size("max_fds", max_fds) > MAX_FDS:
        raise ValueError(f"recv_fds: max_fds must be at most {MAX_FDS} (the kernel's limit), got {max_fds}")
    check_size("max_bytes", max_bytes)
    bits = transport._recv_bits(flags) if flags else 0
    if flags & RecvFlags.WAITALL:
        raise UnsupportedFlag(
            f"RecvFlags.WAITALL cannot be honoured by recv_fds on a {transport.network} transport: "
            "the kernel ends a receive at each message that carries descriptors (and a "
            "timeout makes it ignore the flag); use recv_exactly for the bytes that follow",
            flag=RecvFlags.WAITALL,
            network=transport.network,
        )
    space = socket.CMSG_SPACE(max_fds * _INT_SIZE) if max_fds else 0
    if credentials:
        space += _CREDENTIALS_SPACE
    room = transport._room(max_bytes, flags, "recv_fds")
    try:
        data, ancillary, msg_flags, sender = transport._call(
            bits, transport.raw_socket.recvmsg, room, space, bits | _CLOEXEC
        )
    except TransportError:
        raise
    except OSError as exc:
        raise transport._error(exc, "recv_fds") from exc
    fds: list[int] = []
    who: Credentials | None = None
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.extend(array.array("i", payload[: len(payload) - len(payload) % _INT_SIZE]))
        elif level == socket.SOL_SOCKET and kind == _SCM_CREDENTIALS and len(payload) >= _UCRED.size:
            who = _sender_credentials(payload)
    if allowed is not None and (who is None or who.uid not in allowed):
        _close_all(fds)
        raise _rejected(transport, "recv_fds", who or Credentials(0, _NO_ID, _NO_ID), allowed)
    if transport.closed:
        # Woken by close() in another thread: hand out nothing, leak nothing.
        _close_all(fds)
        raise transport._closed_error("recv_fds")
    # CMSG_SPACE rounds up, so the kernel may fit one more than asked without MSG_CTRUNC.
    if msg_flags & _CTRUNC or len(fds) > max_fds:
        _close_all(fds)
        where = transport._where()
        raise FdsTruncated(
            f"recv_fds {where}: the sender passed more descriptors than max_fds={max_fds}; "
            f"the {len(fds)} that arrived were closed and the rest dropped by the kernel; "
            "receive with a larger max_fds",
            data=data,
            received=len(fds),
            op="recv_fds",
            address=where,
        )
    truncated = bool(msg_flags & TRUNC_OUT) and transport.kind is not Kind.STREAM
    address = UnixAddress.from_sockaddr(sender) if sender is not None else None
    return ReceivedFds(data, tuple(fds), truncated, address)


def recv_credentials_on(
    transport: MessageMixin[UnixAddress],
    max_bytes: int,
    flags: RecvFlags,
    allowed: frozenset[int] | None,
    op: str = "recv_from",
) -> Datagram:
    """One datagram and its sender's credentials (``SCM_CREDENTIALS``, :apue:`17.3`), on a socket with SO_PASSCRED on.

    A sender whose uid is not in *allowed* (when given) is
    :class:`~transports.PeerRejected`: its datagram is consumed and not handed out.
    """
    if flags or max_bytes.__class__ is not int or not 0 < max_bytes <= DGRAM_DIRECT:
        check_size("max_bytes", max_bytes)
        bits = transport._recv_bits(flags) if flags else 0
        room = transport._room(max_bytes, flags, op)
        buffer = bytearray(room)
        count, ancillary, msg_flags, sender = _call_recv(
            transport,
            op,
            bits,
            transport.raw_socket.recvmsg_into,
            [buffer],
            _CREDENTIALS_SPACE,
            bits | _RECV_BITS,
        )
    else:
        # The usual call, as the plain hot path makes it: nothing to check, one system call in flight.
        room = max_bytes
        buffer = bytearray(room)
        calls = transport._calls
        calls.append(_PID)
        try:
            count, ancillary, msg_flags, sender = transport._sock.recvmsg_into(
                [buffer], _CREDENTIALS_SPACE, _RECV_BITS
            )
        except BaseException as exc:
            raise transport._recv_failed(exc, op) from exc
        del calls[-1]
        if transport._closed:
            transport._settle()
    # With MSG_TRUNC on input (Linux) the count is the real size.
    cut = count > room or bool(msg_flags & TRUNC_OUT)
    size = count if not cut or TRUNC_IN else None
    with memoryview(buffer) as view:
        data = bytes(view[: min(count, room)])
    who: Credentials | None = None
    for level, kind, payload in ancillary:
        if level != socket.SOL_SOCKET:
            continue
        if kind == _SCM_CREDENTIALS and len(payload) >= _UCRED.size:
            who = _sender_credentials(payload)
        elif kind == socket.SCM_RIGHTS:  # descriptors nobody asked for: close them, leak none
            _close_all(array.array("i", payload[: len(payload) - len(payload) % _INT_SIZE]))
    if transport.closed:  # woken by close() in another thread: hand out nothing
        raise transport._closed_error(op)
    if allowed is not None and (who is None or who.uid not in allowed):
        raise _rejected(transport, op, who or Credentials(0, _NO_ID, _NO_ID), allowed)
    address = transport._address(sender) if sender is not None else UnixAddress("")
    return make_datagram(Datagram, (data, address, cut, size, who))


def _call_recv(transport: SocketTransport[UnixAddress], op: str, bits: int, call: Any, *args: Any) -> Any:
    """One receive through the transport's ``_call`` (in flight, DONTWAIT honoured), its OSError translated for *op*."""
    try:
        return transport._call(bits, call, *args)
    except TransportError:
        raise
    except OSError as exc:
        raise transport._error(exc, op) from exc


@functools.lru_cache(maxsize=256)
def _sender_credentials(raw: bytes) -> Credentials:
    """The Credentials of an ``SCM_CREDENTIALS`` payload; memoised, as senders repeat (the values are frozen)."""
    return Credentials(*_UCRED.unpack_from(raw))


def _rejected(
    transport: SocketTransport[UnixAddress], op: str, who: Credentials, allowed: frozenset[int]
) -> PeerRejected:
    where = transport._where()
    sent = (
        "sent no credentials"
        if who.pid == 0 and who.uid == _NO_ID
        else f"runs as uid {who.uid} (pid {who.pid})"
    )
    error = PeerRejected(
        f"{op} on {where}: refused a datagram whose sender {sent}; allowed uids: {sorted(allowed)}; "
        "the datagram was discarded: catch PeerRejected and receive the next one",
        credentials=who,
        address=where,
    )
    error.op = op  # PeerRejected names "accept"; here a receive refused the sender
    return error


class FdPassingMixin(SocketTransport[UnixAddress]):
    """The base of the Unix-domain transports: descriptors, peer credentials, socketpairs (:apue:`17.2`, :apue:`17.3`, :apue:`17.4`).

    Only an ``AF_UNIX`` socket carries descriptors and knows its peer's
    credentials, so this base fixes the family too, and makes the
    ``socketpair`` of each kind. The fd-passing methods are thin: the work
    is in the functions ``send_fds_on``, ``recv_fds_on`` and
    :func:`credentials_of`, which take any Unix-domain transport.
    """

    __slots__ = ()
    #: Whether the receives read the senders' credentials, and the uids whose messages they
    #: hand out (None: every sender): a Unix datagram socket bound with them has its own (slots).
    _credentials: bool = False
    _allowed_uids: frozenset[int] | None = None

    @classmethod
    def pair(cls) -> tuple[Self, Self]:
        """Two connected ends of a new ``socketpair`` of this kind (:apue:`17.2`)."""
        a, b = socket_pair(cls._kind)
        try:
            first = cls(a)
        except BaseException:
            a.close()
            b.close()
            raise
        try:
            return first, cls(b)
        except BaseException:
            first.close()
            b.close()
            raise

    @classmethod
    def from_socket(cls, sock: socket.socket) -> Self:
        """Wrap a Unix-domain :class:`socket.socket` of this kind, taking ownership of it (:apue:`17.2`).

        A stream or seqpacket socket must be connected (an inherited or
        received one, a socketpair end); a datagram socket may be unconnected.
        A closed socket, or an unconnected or listening stream or seqpacket
        one, is refused with :class:`ValueError` and left open, still the caller's.
        """
        check_adoptable(cls, sock, connected=cls._kind is not Kind.DATAGRAM)
        return cls(sock)

    def send_fds(
        self,
        data: Buffer,
        fds: Iterable[int | HasFileno],
        flags: SendFlags = SendFlags.NONE,
        *,
        address: UnixAddress | str | os.PathLike[str] | None = None,
    ) -> int:
        """Send *data* with copies of the descriptors *fds* (:apue:`17.4`).

        *fds* may hold ints or anything with ``fileno()`` (files, sockets,
        transports). Returns the data bytes sent: on a stream the
        descriptors travel with the first byte, so send the rest of a
        partial send with ``send_all``. A stream needs at least one data byte
        (Linux drops descriptors sent with none). *address* sends an
        unconnected datagram. At most :data:`~transports.fdpass.MAX_FDS` per message.
        ``SendFlags.OOB`` is refused: the kernel would lose the descriptors
        with the urgent byte. A descriptor that is not open raises
        :class:`ValueError` and nothing is sent.
        """
        return send_fds_on(self, data, fds, flags, address)

    def recv_fds(self, max_bytes: int, max_fds: int, flags: RecvFlags = RecvFlags.NONE) -> ReceivedFds:
        """Receive up to *max_bytes* of data and up to *max_fds* descriptors (:apue:`17.4`).

        The new descriptors are close-on-exec. If the sender passed more
        than *max_fds* (the kernel reports ``MSG_CTRUNC``), every descriptor
        that arrived is closed and :class:`~transports.FdsTruncated`
        is raised with the data: none leaks. At end of stream the result
        has ``data == b""`` and no descriptors. ``RecvFlags.PEEK`` leaves the
        message queued, but Linux installs its descriptors anyway: a peek
        returns new descriptors (yours to close) and the real receive more.
        ``RecvFlags.WAITALL`` is refused (the kernel stops at descriptors).
        """
        return recv_fds_on(self, max_bytes, max_fds, flags, self._allowed_uids, self._credentials)

    def peer_credentials(self, *, pidfd: bool = False) -> Credentials:
        """The pid, uid and gid of the peer process (:apue:`17.3`).

        Valid on a connected socket or a socketpair end; the kernel took them
        when the connection was made (or the pair created), so they name the
        process that connected, even after the socket was passed on. A datagram
        socket that is merely bound or ``connect()``-ed has none:
        :class:`~transports.NotConnected`.

        With ``pidfd=True`` the result's ``pidfd`` is a new
        :class:`~transports.pidfd.PidFd` of that process (``SO_PEERPIDFD``,
        Linux 6.5 and later), yours to close: unlike the pid, it cannot come
        to name another process. It is None where the kernel or platform has
        no ``SO_PEERPIDFD``. Without it no descriptor is made.
        """
        return credentials_of(self._sock, self._where(), pidfd=pidfd)


def _not_open(fds: Iterable[int]) -> list[int]:
    """Those of *fds* that name no open file (``fstat`` fails on them)."""
    missing = []
    for fd in fds:
        try:
            os.fstat(fd)
        except OSError:
            missing.append(fd)
    return missing


def _close_all(fds: Iterable[int]) -> None:
    """Close descriptors that were just installed for us (and that nobody else can have closed)."""
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
