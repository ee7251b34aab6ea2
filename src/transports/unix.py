"""Unix-domain sockets: IPC on one host, named by a path (:apue:`17.2`).

Three kinds share one naming scheme (:apue:`17.2.1`): :class:`UnixStreamTransport`
(a byte stream, like TCP), :class:`UnixDatagramTransport` (reliable,
ordered datagrams) and :class:`UnixSeqpacketTransport` (messages over a
connection). Listeners follow the rules of :apue:`17.3`:
a socket file left by a dead server is replaced, but a live server's socket,
or any file that is not a socket, is never touched; the new socket file gets
mode 0o600 unless told otherwise, and only the file this listener made is
removed when it closes. Those file rules are written once, in
``transports._core.unixpath``; descriptor passing, credentials and the
``socketpair`` of each kind come from :class:`~transports.fdpass.FdPassingMixin`.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Collection, Iterable
from typing import Any, ClassVar, Self

from transports._compat import Buffer, WritableBuffer
from transports._core.batch import BatchMixin
from transports._core.listener import SocketListener, TransportT
from transports._core.message import MessageMixin
from transports._core.owner import pid_global
from transports._core.sockflags import DONTWAIT, NOSIGNAL
from transports._core.stream import ShutdownMixin
from transports._core.unixpath import DEFAULT_MODE, LINUX, OwnedPath, bind_unix, clear_stale, connect_unix
from transports._core.validate import check_size, check_timeout
from transports.addresses import Datagram, InetAddress, NamedAddress, UnixAddress, unix_from_kernel
from transports.ancillary import AncillaryMixin
from transports.errors import AddressError, PeerRejected, TransportError, UnsupportedOption, WouldBlock
from transports.fdpass import SO_PASSCRED, FdPassingMixin, credentials_of, recv_credentials_on
from transports.flags import RecvFlags, SendFlags, unix_stream_oob
from transports.kinds import Kind
from transports.options import SO_SNDBUF, OptionSetting
from transports.protocols import Destination
from transports.sendfile import SendfileMixin

#: This process's pid, renewed at fork by transports._core.owner: calls in flight carry it.
_PID = pid_global(globals())
#: A flag-free send without a timeout: never blocks, so close() can wake its wait.
_NOWAIT = NOSIGNAL | DONTWAIT

__all__ = [
    "UnixDatagramTransport",
    "UnixListener",
    "UnixSeqpacketListener",
    "UnixSeqpacketTransport",
    "UnixStreamTransport",
    "unix_stream_has_oob",
]

#: Bytes a Unix datagram costs beyond its payload in the send buffer (Linux).
_DGRAM_OVERHEAD = 32


def unix_stream_has_oob() -> bool:
    """Whether this kernel carries out-of-band bytes on Unix streams (:apue:`16.7`).

    The kernel is asked once (:func:`transports.flags.unix_stream_oob`); the
    answer decides whether ``SendFlags.OOB``/``RecvFlags.OOB`` are accepted.
    """
    return unix_stream_oob()


_as_unix = UnixAddress.coerce


def _allowed_set(allowed_uids: Collection[int] | None) -> frozenset[int] | None:
    """*allowed_uids* checked once and frozen (a generator would be used up by the check)."""
    if allowed_uids is None:
        return None
    if isinstance(allowed_uids, str | bytes) or not isinstance(allowed_uids, Iterable):
        raise TypeError(f"allowed_uids must be a collection of ints, got {allowed_uids!r}")
    allowed = frozenset(allowed_uids)
    if not all(type(u) is int for u in allowed):
        raise TypeError(f"allowed_uids must be a collection of ints, got {sorted(map(repr, allowed))}")
    return allowed


def _unix_sockaddr(address: Destination) -> str | bytes:
    """Where a Unix datagram ``send_to`` goes: a path or UnixAddress with a name."""
    if isinstance(address, InetAddress | NamedAddress | tuple):
        raise AddressError(f"a Unix datagram transport sends to a path or UnixAddress, got {address!r}")
    target = _as_unix(address)
    if target.unnamed:
        raise AddressError(
            "send_to needs a socket path or @name, but the address is unnamed (a "
            "socketpair end or an unbound socket cannot be addressed); use send on a "
            "connected transport instead"
        )
    return target.to_sockaddr()


class UnixStreamTransport(SendfileMixin[UnixAddress], FdPassingMixin, network="unix"):
    """A connected Unix stream socket: a byte stream between processes on one host (:apue:`17.2`).

    >>> a, b = UnixStreamTransport.pair()
    >>> with a, b:
    ...     a.send_all(b"over the socketpair")
    ...     b.timeout = 5
    ...     b.recv_exactly(4)
    b'over'
    """

    __slots__ = ()

    @classmethod
    def connect(
        cls,
        path: str | UnixAddress | os.PathLike[str],
        *,
        timeout: float | None = None,
        options: Iterable[OptionSetting[Any]] = (),
    ) -> Self:
        """Connect to the listener at *path* (:apue:`17.3` ``cli_conn``).

        A Unix connect completes at once unless the listener's queue is full;
        a *timeout* waits that long for room. ``timeout=0`` never waits
        (:apue:`16.8`): a full queue raises :class:`~transports.WouldBlock`
        at once and leaves no socket behind; otherwise the transport is
        connected and non-blocking.
        """
        timeout = check_timeout(timeout)
        sock, _ = connect_unix(Kind.STREAM, _as_unix(path), cls.network, timeout=timeout, settings=options)
        return cls(sock)


class UnixSeqpacketTransport(
    MessageMixin[UnixAddress], ShutdownMixin[UnixAddress], FdPassingMixin, network="unixpacket"
):
    """A connected Unix seqpacket socket: messages with boundaries over a connection (:apue:`17.2`).

    Each ``send`` arrives as exactly one ``recv``; a message longer than the
    receive buffer raises :class:`~transports.MessageTruncated`.
    ``shutdown("write")`` makes the peer's ``recv`` return ``b""``.
    """

    __slots__ = ()

    @property
    def max_message_size(self) -> int:
        """The largest message: the send buffer less the kernel's per-message overhead."""
        return max(self.get_option(SO_SNDBUF) - _DGRAM_OVERHEAD, 0)

    @classmethod
    def connect(
        cls,
        path: str | UnixAddress | os.PathLike[str],
        *,
        timeout: float | None = None,
        options: Iterable[OptionSetting[Any]] = (),
    ) -> Self:
        """Connect to the seqpacket listener at *path* (:apue:`17.3` ``cli_conn``).

        *timeout* and ``timeout=0`` work as for :meth:`UnixStreamTransport.connect`:
        a full queue is waited out for *timeout*, and with 0 raises
        :class:`~transports.WouldBlock` at once.
        """
        timeout = check_timeout(timeout)
        sock, _ = connect_unix(Kind.SEQPACKET, _as_unix(path), cls.network, timeout=timeout, settings=options)
        return cls(sock)


class UnixDatagramTransport(
    AncillaryMixin[UnixAddress], BatchMixin[UnixAddress], FdPassingMixin, network="unixgram"
):
    """A Unix datagram socket: reliable, ordered messages on one host (:apue:`17.2`).

    Unlike UDP nothing is dropped: a full receiver makes the sender block.
    The largest message is bounded by the send buffer (``SO_SNDBUF``).
    A socket bound to a path removes its file when closed. Bound with
    ``credentials=True``, its datagrams name their senders (:apue:`17.3`).
    """

    __slots__ = ("_allowed_uids", "_credentials", "_owned")

    def __init__(self, sock: socket.socket, *, _owned: OwnedPath | None = None) -> None:
        super().__init__(sock)
        self._owned = _owned
        self._credentials = False
        self._allowed_uids = None

    def close(self) -> None:
        """Close the socket and remove the socket file this transport created.

        Only the process that bound the file removes it: a forked child that
        closes its inherited copy leaves the parent reachable.
        """
        super().close()
        owned, self._owned = self._owned, None
        if owned is not None:
            owned.remove()

    def disown(self) -> None:
        """Leave the socket file in place when this transport closes (:apue:`17.3`).

        For a socket another process serves from now on (a hand-off's
        successor): its address must outlive this process's close().
        """
        self._owned = None

    @property
    def max_message_size(self) -> int:
        """The largest message: ``SO_SNDBUF`` less the kernel's per-message overhead."""
        return max(self.get_option(SO_SNDBUF) - _DGRAM_OVERHEAD, 0)

    @classmethod
    def bind(
        cls,
        path: str | UnixAddress | os.PathLike[str] | None = None,
        *,
        mode: int | None = DEFAULT_MODE,
        timeout: float | None = None,
        options: Iterable[OptionSetting[Any]] = (),
        credentials: bool = False,
        allowed_uids: Collection[int] | None = None,
    ) -> Self:
        """Bind to *path* (``None``: an autobound abstract name on Linux) (:apue:`17.2.1`, :apue:`17.3`).

        A stale socket file at *path* is replaced; a live one or a non-socket
        file raises :class:`~transports.AddressInUse`.

        *credentials* turns ``SO_PASSCRED`` on before binding (Linux): each
        datagram then arrives with its sender's pid, uid and gid, attached by
        the kernel when it was sent (``SCM_CREDENTIALS``), in
        :attr:`Datagram.credentials <transports.Datagram.credentials>` of
        ``recv_from`` and ``recv_many``. *allowed_uids* (which turns
        *credentials* on) hands out only datagrams from those users: for any
        other sender a receive discards the datagram and raises
        :class:`~transports.PeerRejected`, which a server loop catches to go
        on; ``recv_msg``, which does not check, is refused.
        """
        if credentials.__class__ is not bool:
            raise TypeError(f"credentials takes True or False, got {credentials!r}")
        allowed = _allowed_set(allowed_uids)
        timeout = check_timeout(timeout)
        address = UnixAddress("") if path is None else _as_unix(path)
        settings = tuple(options)
        if allowed is not None:
            credentials = True
        if credentials:
            settings += (SO_PASSCRED(True),)  # before bind: no datagram may arrive without them
        sock, owned = bind_unix(
            Kind.DATAGRAM, address, cls.network, mode=mode, timeout=timeout, settings=settings, backlog=None
        )
        made = cls(sock, _owned=owned)
        if credentials:
            # Receives leave the hot path (see MessageMixin._detour) for the checked one, which reads them.
            made._credentials, made._allowed_uids, made._detour = True, allowed, True
        return made

    @classmethod
    def connect(
        cls,
        path: str | UnixAddress | os.PathLike[str],
        *,
        local: str | UnixAddress | os.PathLike[str] | None = None,
        timeout: float | None = None,
        options: Iterable[OptionSetting[Any]] = (),
    ) -> Self:
        """Fix the peer to *path*; bind *local* first so the peer can answer (:apue:`17.2.1`, :apue:`16.4`).

        With ``local=None`` Linux autobinds an abstract name, so replies reach
        this socket; elsewhere the socket stays unnamed (it can only send).
        Fixing a datagram peer exchanges nothing, so it never waits:
        ``timeout=0`` gives a non-blocking transport, as it does for :meth:`bind`.
        """
        timeout = check_timeout(timeout)
        if local is None:
            local_address = UnixAddress("") if LINUX else None
        else:
            local_address = _as_unix(local)
            clear_stale(local_address, Kind.DATAGRAM, local_address.url(cls.network))
        sock, owned = connect_unix(
            Kind.DATAGRAM, _as_unix(path), cls.network, timeout=timeout, settings=options, local=local_address
        )
        return cls(sock, _owned=owned)

    def send_to(self, data: Buffer, address: Destination, flags: SendFlags = SendFlags.NONE) -> int:
        """Send one message to the socket bound at *address* (a path or UnixAddress)."""
        return self._send_to(data, address, flags, _unix_sockaddr)

    def send(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> int:
        """Send one message to the connected peer (:apue:`16.5`); a full receiver makes it wait."""
        if flags:
            return super().send(data, flags)
        # The hot path (_send_waking's first try, written out): one system call, no frame of ours.
        sock = self._sock
        calls = self._calls
        calls.append(_PID)
        try:
            sent = sock.send(data, _NOWAIT)
        except BaseException as exc:
            return self._send_failed(exc, data, "send", None)
        del calls[-1]
        if self._closed:
            self._settle()
        return sent

    # -- bound with credentials=True: the receives that read (and check) them (:apue:`17.3`) ----------

    def _recv_datagram_checked(self, max_bytes: int, flags: RecvFlags) -> Datagram:
        if self._credentials:
            return recv_credentials_on(self, max_bytes, flags, self._allowed_uids)
        return super()._recv_datagram_checked(max_bytes, flags)

    def _recv_checked(self, max_bytes: int, flags: RecvFlags) -> bytes:
        if self._allowed_uids is None:
            return super()._recv_checked(max_bytes, flags)
        got = recv_credentials_on(self, max_bytes, flags, self._allowed_uids, "recv")
        if got.truncated:
            raise self._truncated("recv", got.data, got.size, max_bytes)
        return got.data

    def _recv_into_checked(self, buffer: WritableBuffer, nbytes: int, flags: RecvFlags) -> int:
        if self._allowed_uids is None:
            return super()._recv_into_checked(buffer, nbytes, flags)
        check_size("nbytes", nbytes)
        with memoryview(buffer) as whole, whole.cast("B") as view:
            if nbytes > len(view):
                raise ValueError(f"recv_into: nbytes {nbytes} is larger than the {len(view)}-byte buffer")
            got = recv_credentials_on(self, nbytes or len(view), flags, self._allowed_uids, "recv_into")
            count = len(got.data)
            view[:count] = got.data
        if got.truncated:
            raise self._truncated("recv_into", got.data, got.size, count)
        return count

    def _refuse_recv_msg(self) -> None:
        if self._allowed_uids is not None:
            raise UnsupportedOption(
                f"recv_msg on {self._where()}: this socket hands out only datagrams from allowed_uids, "
                "and recv_msg does not check senders; receive with recv_from, recv or recv_many",
                op="recv_msg",
                address=self._where(),
            )

    def _take_ready(self, out: list[Datagram], max_count: int, max_bytes: int) -> None:
        if not self._credentials:
            super()._take_ready(out, max_count, max_bytes)
            return
        # recv_many (both faces) without recvmmsg, which does not read the credentials:
        # a refused sender ends the batch, and the next recv_many raises it.
        while len(out) < max_count:
            try:
                out.append(recv_credentials_on(self, max_bytes, RecvFlags.DONTWAIT, self._allowed_uids))
            except WouldBlock:
                return
            except TransportError as exc:
                self._held = exc
                return


class _UnixListenerBase(SocketListener[TransportT, UnixAddress]):
    __slots__ = ("_allowed", "_owned")
    _listen_kind: ClassVar[Kind]
    _transport: ClassVar[type[Any]]

    def __init__(
        self, sock: socket.socket, owned: OwnedPath | None, allowed_uids: Collection[int] | None = None
    ) -> None:
        super().__init__(sock, self._transport)
        self._owned = owned
        self._allowed = None if allowed_uids is None else frozenset(allowed_uids)

    def accept(self) -> TransportT:
        """Wait for the next connection (:apue:`17.3` ``serv_accept``).

        With ``allowed_uids``, a peer whose user is not in it is disconnected
        and :class:`~transports.PeerRejected` raised (iterating the
        listener skips such peers).
        """
        conn = super().accept()
        if self._allowed is None:
            return conn
        try:
            who = credentials_of(conn.raw_socket, self._where())
        except BaseException:
            conn.close()
            raise
        if who.uid in self._allowed:
            return conn
        conn.close()
        raise PeerRejected(
            f"accept on {self._where()}: refused a peer running as uid {who.uid} (pid {who.pid}); "
            f"allowed uids: {sorted(self._allowed)}",
            credentials=who,
            address=self._where(),
        )

    _address = staticmethod(unix_from_kernel)
    _families = (socket.AF_UNIX,)

    @classmethod
    def _adopt(cls, sock: socket.socket) -> Self:
        return cls(sock, None)  # not ours: close() never removes its file

    @classmethod
    def listen(
        cls,
        path: str | UnixAddress | os.PathLike[str],
        *,
        backlog: int = 128,
        mode: int | None = DEFAULT_MODE,
        timeout: float | None = None,
        options: Iterable[OptionSetting[Any]] = (),
        allowed_uids: Collection[int] | None = None,
    ) -> Self:
        """Bind *path* and listen (:apue:`17.3` ``serv_listen``).

        *mode* is the socket file's permissions. *allowed_uids*, when given,
        limits which users' connections :meth:`accept` hands out; the others
        are closed (their uid is checked with ``SO_PEERCRED``).
        """
        if type(backlog) is not int or backlog < 0:  # as TCPListener.listen checks it
            raise ValueError(f"backlog must be an int >= 0, got {backlog!r}")
        allowed_uids = _allowed_set(allowed_uids)
        timeout = check_timeout(timeout)
        sock, owned = bind_unix(
            cls._listen_kind,
            _as_unix(path),
            cls.network,
            mode=mode,
            timeout=timeout,
            settings=options,
            backlog=backlog,
        )
        return cls(sock, owned, allowed_uids)

    def close(self) -> None:
        """Stop listening and remove the socket file this listener created (never another's).

        A thread blocked in :meth:`accept` wakes with TransportClosed. A forked
        child closing its inherited copy neither stops the parent's listener
        nor removes its file.
        """
        super().close()
        owned, self._owned = self._owned, None
        if owned is not None:
            owned.remove()

    def disown(self) -> None:
        """Leave the socket file in place when this listener closes (:apue:`17.3`).

        For a socket another process serves from now on (a hand-off's
        successor, a worker that outlives this one): clients must still
        find it at its path after this process's close().
        """
        self._owned = None


class UnixListener(_UnixListenerBase[UnixStreamTransport]):
    """A listening Unix stream socket (:apue:`17.3`: ``serv_listen``/``serv_accept``).

    The socket file gets *mode* (0o600 by default: only this user may
    connect). A stale socket file left by a dead server is replaced; a live
    server's socket, or any other kind of file, is refused.
    """

    __slots__ = ()
    network = "unix"
    _listen_kind = Kind.STREAM
    _socket_type = socket.SOCK_STREAM
    _transport = UnixStreamTransport


class UnixSeqpacketListener(_UnixListenerBase[UnixSeqpacketTransport]):
    """A listening Unix seqpacket socket (:apue:`17.3`); same file rules as :class:`UnixListener`."""

    __slots__ = ()
    network = "unixpacket"
    _listen_kind = Kind.SEQPACKET
    _socket_type = socket.SOCK_SEQPACKET
    _transport = UnixSeqpacketTransport
