"""Passing descriptors and asking who the peer is (APUE 17.4 Passing File Descriptors, 17.3 Unique Connections).

Over a Unix-domain socket a process can hand another process an open file
descriptor: the kernel installs a new descriptor for the same open file in
the receiver (``SCM_RIGHTS`` ancillary data, APUE 17.4). The same sockets
can tell a server which user and process is at the other end
(``SO_PEERCRED``, the check that ``serv_accept`` makes in APUE 17.3).

Compared with the standard library's ``socket.send_fds``/``recv_fds``:
received descriptors are close-on-exec, flags are honoured, a control
message that did not fit (``MSG_CTRUNC``) is an error with every received
descriptor closed, and descriptors are refused on TCP and UDP (where Linux
would drop them silently) simply by not being offered there.
"""

from __future__ import annotations

import array
import errno
import os
import socket
import struct
import sys
from collections.abc import Iterable
from typing import Any

import attrs
from typing_extensions import Buffer

from transports._socket import SocketTransport, check_size
from transports.addresses import UnixAddress
from transports.errors import AddressError, FdsTruncated, TransportError, translate_os_error
from transports.flags import RecvFlags, SendFlags
from transports.kinds import Kind
from transports.protocols import _HasFileno

__all__ = ["MAX_FDS", "Credentials", "FdPassingMixin", "ReceivedFds", "credentials_of"]

#: The most descriptors Linux carries in one message (SCM_MAX_FD).
MAX_FDS = 253

_NOSIGNAL = int(getattr(socket, "MSG_NOSIGNAL", 0))
_CLOEXEC = int(getattr(socket, "MSG_CMSG_CLOEXEC", 0))
_CTRUNC = int(getattr(socket, "MSG_CTRUNC", 0))
_TRUNC = int(getattr(socket, "MSG_TRUNC", 0))
_INT_SIZE = array.array("i").itemsize


@attrs.frozen
class Credentials:
    """Who is at the other end of a Unix socket: process id, user id, group id (APUE 17.3 Unique Connections).

    The kernel records them when the peer connected (or made the
    socketpair), so they cannot be forged by the peer.
    """

    pid: int
    uid: int
    gid: int


@attrs.frozen
class ReceivedFds:
    """A message and the descriptors that came with it (APUE 17.4 Passing File Descriptors).

    The descriptors are new, close-on-exec, and yours to close (``os.close``,
    or wrap them with ``os.fdopen``/``socket.socket(fileno=...)``).
    ``truncated`` is True when a datagram or seqpacket message was longer than
    *max_bytes*; ``address`` is the sender of a datagram (None on connected kinds).
    """

    data: bytes
    fds: tuple[int, ...]
    truncated: bool = False
    address: UnixAddress | None = None


def _fd_number(item: int | _HasFileno) -> int:
    fd = item if isinstance(item, int) and not isinstance(item, bool) else None
    if fd is None:
        fileno = getattr(item, "fileno", None)
        if fileno is None:
            raise TypeError(f"send_fds takes descriptors (ints) or objects with fileno(), got {item!r}")
        fd = fileno()
    if fd < 0:
        raise ValueError(f"send_fds: {item!r} has no open descriptor (fileno {fd}); is it closed?")
    return fd


def credentials_of(sock: socket.socket, where: str) -> Credentials:
    """Read the peer's credentials of a connected Unix socket (SO_PEERCRED or its BSD cousins)."""
    try:
        if hasattr(socket, "SO_PEERCRED"):
            raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            pid, uid, gid = struct.unpack("3i", raw)
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


class FdPassingMixin(SocketTransport[UnixAddress]):
    """``send_fds``, ``recv_fds`` and ``peer_credentials`` for Unix-domain transports (APUE 17.3, 17.4)."""

    __slots__ = ()

    def send_fds(
        self,
        data: Buffer,
        fds: Iterable[int | _HasFileno],
        flags: SendFlags = SendFlags.NONE,
        *,
        address: UnixAddress | str | None = None,
    ) -> int:
        """Send *data* with copies of the descriptors *fds* (APUE 17.4 Passing File Descriptors).

        *fds* may hold ints or anything with ``fileno()`` (files, sockets,
        transports). Returns the data bytes sent: on a stream the
        descriptors travel with the first byte, so send the rest of a
        partial send with ``send_all``. A stream needs at least one data byte
        (Linux drops descriptors sent with none). *address* sends an
        unconnected datagram. At most :data:`MAX_FDS` per message.
        """
        numbers = [_fd_number(item) for item in fds]
        if len(numbers) > MAX_FDS:
            raise ValueError(
                f"send_fds: {len(numbers)} descriptors in one message; the kernel takes at most {MAX_FDS}"
            )
        with memoryview(data) as view:
            empty = view.nbytes == 0
        if empty and numbers and self._kind is Kind.STREAM:
            raise ValueError(
                "send_fds on a stream needs at least one byte of data: Linux drops descriptors sent with none"
            )
        bits = self._send_bits(flags) if flags else _NOSIGNAL
        ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", numbers))] if numbers else []
        target: Any = None
        if address is not None:
            if self._kind is not Kind.DATAGRAM:
                raise AddressError(
                    "send_fds: only a datagram transport takes an address; this one is connected"
                )
            target = (UnixAddress(address) if isinstance(address, str) else address).to_sockaddr()
        try:
            if target is None:
                return self._call(bits, self._sock.sendmsg, [data], ancillary, bits)
            return self._call(bits, self._sock.sendmsg, [data], ancillary, bits, target)
        except TransportError:
            raise
        except OSError as exc:
            raise self._send_error(exc, "send_fds", data) from exc

    def recv_fds(self, max_bytes: int, max_fds: int, flags: RecvFlags = RecvFlags.NONE) -> ReceivedFds:
        """Receive up to *max_bytes* of data and up to *max_fds* descriptors (APUE 17.4).

        The new descriptors are close-on-exec. If the sender passed more
        than *max_fds* (the kernel reports ``MSG_CTRUNC``), every descriptor
        that arrived is closed and :class:`~transports.errors.FdsTruncated`
        is raised with the data: none leaks. At end of stream the result
        has ``data == b""`` and no descriptors.
        """
        if check_size("max_fds", max_fds) > MAX_FDS:
            raise ValueError(
                f"recv_fds: max_fds must be at most {MAX_FDS} (the kernel's limit), got {max_fds}"
            )
        check_size("max_bytes", max_bytes)
        bits = self._recv_bits(flags) if flags else 0
        space = socket.CMSG_SPACE(max_fds * _INT_SIZE) if max_fds else 0
        try:
            data, ancillary, msg_flags, sender = self._call(
                bits, self._sock.recvmsg, max_bytes, space, bits | _CLOEXEC
            )
        except TransportError:
            raise
        except OSError as exc:
            raise self._error(exc, "recv_fds") from exc
        fds: list[int] = []
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.extend(array.array("i", payload[: len(payload) - len(payload) % _INT_SIZE]))
        # CMSG_SPACE rounds up, so the kernel may fit one more than asked without MSG_CTRUNC.
        if msg_flags & _CTRUNC or len(fds) > max_fds:
            for fd in fds:
                _close_quietly(fd)
            where = self._where()
            raise FdsTruncated(
                f"recv_fds {where}: the sender passed more descriptors than max_fds={max_fds}; "
                f"the {len(fds)} that arrived were closed and the rest dropped by the kernel; "
                "receive with a larger max_fds",
                data=data,
                received=len(fds),
                op="recv_fds",
                address=where,
            )
        truncated = bool(msg_flags & _TRUNC) and self._kind is not Kind.STREAM
        address = UnixAddress.from_sockaddr(sender) if sender is not None else None
        return ReceivedFds(data, tuple(fds), truncated, address)

    def peer_credentials(self) -> Credentials:
        """The pid, uid and gid of the peer process (APUE 17.3 Unique Connections).

        Valid on a connected socket or a socketpair end; the kernel took them
        when the connection was made.
        """
        return credentials_of(self._sock, self._where())


def _close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError as exc:  # pragma: no cover - the fd was just installed for us
        if exc.errno != errno.EBADF:
            raise
