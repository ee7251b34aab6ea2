"""Unix-domain sockets: IPC on one host, named by a path (APUE 17.2 UNIX Domain Sockets).

Three kinds share one naming scheme (APUE 17.2.1): :class:`UnixStreamTransport`
(a byte stream, like TCP), :class:`UnixDatagramTransport` (reliable,
ordered datagrams) and :class:`UnixSeqpacketTransport` (messages over a
connection). Listeners follow the rules of APUE 17.3 Unique Connections:
a socket file left by a dead server is replaced, but a live server's socket,
or any file that is not a socket, is never touched; the new socket file gets
mode 0o600 unless told otherwise, and only the file this listener made is
removed when it closes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import socket
import stat
import struct
import sys
from collections.abc import Collection, Iterable, Iterator
from typing import Any, ClassVar, Self

try:
    # At import, not at first use: with every descriptor taken, importing an
    # extension module fails (EMFILE) with an ImportError that names no socket.
    import fcntl
except ImportError:  # pragma: no cover - platforms without fcntl have no start lock
    fcntl = None  # type: ignore[assignment]

from transports._compat import Buffer
from transports._core.listener import SocketListener, TransportT
from transports._core.message import MessageMixin
from transports._core.owner import new_socket
from transports._core.stream import ShutdownMixin
from transports._core.transport import SocketTransport
from transports._core.validate import check_timeout
from transports.addresses import (
    Address,
    Datagram,
    InetAddress,
    NamedAddress,
    UnixAddress,
    unix_from_kernel,
)
from transports.errors import AddressError, AddressInUse, PeerRejected, TransportError, translate_os_error
from transports.fdpass import FdPassingMixin, credentials_of
from transports.flags import RecvFlags, SendFlags, allowed_masks, unix_stream_oob
from transports.kinds import Kind
from transports.options import SO_SNDBUF, OptionSetting
from transports.sendfile import SendfileMixin
from transports.tcp import check_adoptable, connect_would_block

__all__ = [
    "UnixDatagramTransport",
    "UnixListener",
    "UnixSeqpacketListener",
    "UnixSeqpacketTransport",
    "UnixStreamTransport",
    "unix_stream_has_oob",
]

_NOSIGNAL = int(getattr(socket, "MSG_NOSIGNAL", 0))
_DONTWAIT = int(getattr(socket, "MSG_DONTWAIT", 0))
_AF_UNIX: int = getattr(socket, "AF_UNIX", -1)
_LINUX = sys.platform.startswith("linux")
#: Bytes a Unix datagram costs beyond its payload in the send buffer (Linux).
_DGRAM_OVERHEAD = 32
_DEFAULT_MODE = 0o600


def unix_stream_has_oob() -> bool:
    """Whether this kernel carries out-of-band bytes on Unix streams (APUE 16.7).

    The kernel is asked once (:func:`transports.flags.unix_stream_oob`); the
    answer decides whether ``SendFlags.OOB``/``RecvFlags.OOB`` are accepted.
    """
    return unix_stream_oob()


_as_unix = UnixAddress.coerce


def _require_unix() -> None:
    if _AF_UNIX < 0:  # pragma: no cover - Windows
        raise TransportError(f"Unix-domain sockets are not available on {sys.platform}")


def _require_seqpacket() -> None:
    if not hasattr(socket, "SOCK_SEQPACKET") or sys.platform == "darwin":
        raise TransportError(
            f"Unix seqpacket sockets are not available on {sys.platform}; "
            "use a Unix stream with framing (unix://) instead",
            op="socket",
            address="unixpacket:",
        )


class _OwnedPath:
    """The socket file a bind created; removed on close only if it is still ours.

    "Ours" means two things: the path still names the very file the bind
    made (same device and inode: another server may have replaced it), and
    this is the process that made it. A forked child inherits the object but
    not the file: a pre-fork server's workers close their copies of the
    listener, and the parent must stay reachable.
    """

    __slots__ = ("_id", "_pid", "path")

    def __init__(self, path: str) -> None:
        st = os.lstat(path)
        self.path = path
        self._id = (st.st_dev, st.st_ino)
        self._pid = os.getpid()

    def chmod(self, mode: int) -> None:
        st = os.lstat(self.path)
        if (st.st_dev, st.st_ino) == self._id and stat.S_IMODE(st.st_mode) != mode:
            os.chmod(self.path, mode)

    def remove(self) -> None:
        if os.getpid() != self._pid:
            return  # a forked child: the file belongs to the process that bound it
        try:
            st = os.lstat(self.path)
        except OSError:
            return
        if (st.st_dev, st.st_ino) == self._id and stat.S_ISSOCK(st.st_mode):
            # Someone else may have removed it meanwhile: nothing left to do then.
            with contextlib.suppress(OSError):
                os.unlink(self.path)


def _describe_file(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    return "not a socket"


def _clear_stale(address: UnixAddress, kind: Kind, where: str) -> None:
    """Remove a socket file at *address* only if no one is listening on it (APUE 17.3)."""
    if address.abstract or address.unnamed:
        return
    try:
        st = os.lstat(address.path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise translate_os_error(exc, "inspect", where) from exc
    if not stat.S_ISSOCK(st.st_mode):
        raise AddressInUse(
            f"bind {where}: {address.path!r} exists and is {_describe_file(st.st_mode)}; "
            "refusing to replace it; choose another path or remove it yourself",
            errno=errno.EADDRINUSE,
            op="bind",
            address=where,
        )
    probe = socket.socket(socket.AF_UNIX, kind.socket_type)
    try:
        probe.setblocking(False)
        probe.connect(address.path)
    except ConnectionRefusedError:
        pass  # a socket file with no one behind it: stale
    except BlockingIOError:
        # A full backlog answers EAGAIN: someone is listening.
        raise _live(where) from None
    except OSError as exc:
        if exc.errno == errno.EPROTOTYPE:
            raise AddressInUse(
                f"bind {where}: a socket of another kind is bound there; refusing to replace it",
                errno=errno.EADDRINUSE,
                op="bind",
                address=where,
            ) from exc
        raise translate_os_error(exc, "probe", where) from exc
    else:
        raise _live(where)
    finally:
        probe.close()
    try:
        os.unlink(address.path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise translate_os_error(exc, "remove stale socket", where) from exc


def _live(where: str) -> AddressInUse:
    return AddressInUse(
        f"bind {where}: another process is listening there; stop it or choose another path",
        errno=errno.EADDRINUSE,
        op="bind",
        address=where,
    )


def _bind_unix(
    kind: Kind,
    address: UnixAddress,
    network: str,
    *,
    mode: int | None,
    timeout: float | None,
    settings: Iterable[OptionSetting[Any]],
    backlog: int | None,
) -> tuple[socket.socket, _OwnedPath | None]:
    _require_unix()
    where = address.url(network)
    if mode is not None and not (type(mode) is int and 0 <= mode <= 0o777):
        raise ValueError(f"mode must be a permission int such as 0o600, got {mode!r}")
    with _start_lock(address, where):
        _clear_stale(address, kind, where)
        sock = new_socket(socket.AF_UNIX, kind, tuple(settings), where, timeout)
        owned: _OwnedPath | None = None
        try:
            if mode is not None and _LINUX and not address.abstract:
                # Linux gives the new file the socket inode's mode (less umask): set it
                # before bind, so the file is never reachable with looser permissions.
                os.fchmod(sock.fileno(), mode)
            sock.bind(address.to_sockaddr())
            if not address.abstract and not address.unnamed:
                owned = _OwnedPath(address.path)
                if mode is not None:
                    # The umask may have narrowed the mode set before bind (or, off
                    # Linux, nothing set it): give the file exactly what was asked.
                    owned.chmod(mode)
            if backlog is not None:
                sock.listen(backlog)
        except OSError as exc:
            if owned is not None:
                owned.remove()
            sock.close()
            raise translate_os_error(exc, "bind" if backlog is None else "listen on", where) from exc
        except BaseException:
            if owned is not None:
                owned.remove()
            sock.close()
            raise
    return sock, owned


@contextlib.contextmanager
def _start_lock(address: UnixAddress, where: str) -> Iterator[None]:
    """Serialise "remove a stale socket file, then bind" between racing starters (APUE 17.3).

    Without it two servers starting together can both judge the file stale,
    and the second removes the first one's fresh socket. The lock file
    (``PATH.lock``) exists only while a starter holds it.
    """
    if address.abstract or address.unnamed:
        yield  # no file, no race: the kernel refuses a second bind itself
        return
    lock_path = address.path + ".lock"
    flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
    while True:
        try:
            fd = os.open(lock_path, flags, 0o600)
        except OSError as exc:
            if exc.errno == errno.ENOENT:  # the generic hint ("is the server running?") misleads here
                raise TransportError(
                    f"bind {where}: the directory {os.path.dirname(address.path) or '.'!r} does "
                    "not exist (ENOENT); create it first",
                    errno=errno.ENOENT,
                    op="bind",
                    address=where,
                ) from exc
            raise translate_os_error(exc, "create the start lock for", where) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                current = os.stat(lock_path, follow_symlinks=False)
            except FileNotFoundError:
                current = None
            held = os.fstat(fd)
            # The previous holder removes the file as it lets go; a lock on a
            # file no longer at the path protects nothing, so start again.
            if current is not None and (current.st_dev, current.st_ino) == (held.st_dev, held.st_ino):
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_path)
        os.close(fd)  # closing releases the flock


def _connect_unix(
    kind: Kind,
    address: UnixAddress,
    network: str,
    *,
    timeout: float | None,
    settings: Iterable[OptionSetting[Any]],
    local: UnixAddress | None = None,
) -> socket.socket:
    _require_unix()
    if address.unnamed:
        raise AddressError(f"connect needs a Unix socket path or @name, got an empty one ({network}:)")
    where = address.url(network)
    sock = new_socket(socket.AF_UNIX, kind, tuple(settings), where, timeout)
    bound: _OwnedPath | None = None
    try:
        if local is not None:
            sock.bind(local.to_sockaddr())
            if not local.abstract and not local.unnamed:
                bound = _OwnedPath(local.path)
        _connect_within(sock, address, timeout)
    except BaseException as exc:
        sock.close()
        if bound is not None:
            bound.remove()  # the socket file our bind made would be left behind, stale
        if isinstance(exc, BlockingIOError):
            # EAGAIN: the listener's queue is full. A Unix connect waits only for
            # room there, so only timeout=0 (or a platform without SO_SNDTIMEO) gets here.
            why = "the listener's queue is full (its backlog)"
            hint = "retry later, or connect with a timeout > 0 to wait for room"
            raise connect_would_block(exc, where, why, hint) from exc
        if isinstance(exc, OSError):
            raise translate_os_error(
                exc, "connect to", where, timeout=timeout, network=network, remote=address
            ) from exc
        raise
    return sock


def _connect_within(sock: socket.socket, address: UnixAddress, timeout: float | None) -> None:
    """Connect, waiting at most *timeout* for room in a full listener's queue (APUE 16.4).

    A non-blocking Unix connect to a full backlog fails at once with EAGAIN
    (TCP would wait), so for a positive timeout the connect is made blocking
    with SO_SNDTIMEO, which the kernel honours while it waits for room.
    """
    sndtimeo = getattr(socket, "SO_SNDTIMEO", None)
    if not timeout or sndtimeo is None or not _LINUX:
        sock.connect(address.to_sockaddr())
        return
    seconds = int(timeout)
    wait = struct.pack("ll", seconds, int((timeout - seconds) * 1e6))
    sock.settimeout(None)
    sock.setsockopt(socket.SOL_SOCKET, sndtimeo, wait)
    try:
        sock.connect(address.to_sockaddr())
    except BlockingIOError as exc:
        raise TimeoutError(errno.ETIMEDOUT, "the listener's queue stayed full") from exc
    finally:
        if sock.fileno() != -1:
            sock.setsockopt(socket.SOL_SOCKET, sndtimeo, struct.pack("ll", 0, 0))
            sock.settimeout(timeout)


def _pair(kind: Kind) -> tuple[socket.socket, socket.socket]:
    _require_unix()
    try:
        return socket.socketpair(socket.AF_UNIX, kind.socket_type)
    except OSError as exc:
        raise translate_os_error(exc, "socketpair", f"unix ({kind.value})") from exc


class _UnixBase(SocketTransport[UnixAddress]):
    __slots__ = ()
    _families = (_AF_UNIX,)

    def _address(self, raw: Any) -> UnixAddress:
        return unix_from_kernel(raw)

    @classmethod
    def from_socket(cls, sock: socket.socket) -> Self:
        """Wrap a Unix-domain :class:`socket.socket` of this kind, taking ownership of it (APUE 17.2).

        A stream or seqpacket socket must be connected (an inherited or
        received one, a socketpair end); a datagram socket may be unconnected.
        A closed socket, or an unconnected or listening stream or seqpacket
        one, is refused with :class:`ValueError` and left open, still the caller's.
        """
        check_adoptable(cls, sock, connected=cls._kind is not Kind.DATAGRAM)
        return cls(sock)


class UnixStreamTransport(SendfileMixin[UnixAddress], FdPassingMixin, _UnixBase):
    """A connected Unix stream socket: a byte stream between processes on one host (APUE 17.2 UNIX Domain Sockets).

    >>> a, b = UnixStreamTransport.pair()
    >>> with a, b:
    ...     a.send_all(b"over the socketpair")
    ...     b.timeout = 5
    ...     b.recv_exactly(4)
    b'over'
    """

    __slots__ = ()
    network = "unix"
    _kind = Kind.STREAM
    _send_allowed, _recv_allowed = allowed_masks(network)

    @classmethod
    def connect(
        cls,
        path: str | UnixAddress | os.PathLike[str],
        *,
        timeout: float | None = None,
        options: Iterable[OptionSetting[Any]] = (),
    ) -> Self:
        """Connect to the listener at *path* (APUE 17.3 ``cli_conn``).

        A Unix connect completes at once unless the listener's queue is full;
        a *timeout* waits that long for room. ``timeout=0`` never waits
        (APUE 16.8): a full queue raises :class:`~transports.errors.WouldBlock`
        at once and leaves no socket behind; otherwise the transport is
        connected and non-blocking.
        """
        timeout = check_timeout(timeout)
        return cls(_connect_unix(Kind.STREAM, _as_unix(path), cls.network, timeout=timeout, settings=options))

    @classmethod
    def pair(cls) -> tuple[Self, Self]:
        """Two connected ends of a new ``socketpair`` (APUE 17.2)."""
        a, b = _pair(Kind.STREAM)
        return cls(a), cls(b)


class UnixSeqpacketTransport(
    MessageMixin[UnixAddress], ShutdownMixin[UnixAddress], FdPassingMixin, _UnixBase
):
    """A connected Unix seqpacket socket: messages with boundaries over a connection (APUE 17.2 UNIX Domain Sockets).

    Each ``send`` arrives as exactly one ``recv``; a message longer than the
    receive buffer raises :class:`~transports.errors.MessageTruncated`.
    ``shutdown("write")`` makes the peer's ``recv`` return ``b""``.
    """

    __slots__ = ()
    network = "unixpacket"
    _kind = Kind.SEQPACKET
    _send_allowed, _recv_allowed = allowed_masks(network)

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
        """Connect to the seqpacket listener at *path* (APUE 17.3 ``cli_conn``).

        *timeout* and ``timeout=0`` work as for :meth:`UnixStreamTransport.connect`:
        a full queue is waited out for *timeout*, and with 0 raises
        :class:`~transports.errors.WouldBlock` at once.
        """
        _require_seqpacket()
        timeout = check_timeout(timeout)
        return cls(
            _connect_unix(Kind.SEQPACKET, _as_unix(path), cls.network, timeout=timeout, settings=options)
        )

    @classmethod
    def pair(cls) -> tuple[Self, Self]:
        """Two connected ends of a new seqpacket ``socketpair`` (APUE 17.2)."""
        _require_seqpacket()
        a, b = _pair(Kind.SEQPACKET)
        return cls(a), cls(b)


class UnixDatagramTransport(MessageMixin[UnixAddress], FdPassingMixin, _UnixBase):
    """A Unix datagram socket: reliable, ordered messages on one host (APUE 17.2 UNIX Domain Sockets).

    Unlike UDP nothing is dropped: a full receiver makes the sender block.
    The largest message is bounded by the send buffer (``SO_SNDBUF``).
    A socket bound to a path removes its file when closed.
    """

    __slots__ = ("_owned",)
    network = "unixgram"
    _kind = Kind.DATAGRAM
    _send_allowed, _recv_allowed = allowed_masks(network)

    def __init__(self, sock: socket.socket, *, _owned: _OwnedPath | None = None) -> None:
        super().__init__(sock)
        self._owned = _owned

    def close(self) -> None:
        """Close the socket and remove the socket file this transport created.

        Only the process that bound the file removes it: a forked child that
        closes its inherited copy leaves the parent reachable.
        """
        super().close()
        owned, self._owned = self._owned, None
        if owned is not None:
            owned.remove()

    @property
    def max_message_size(self) -> int:
        """The largest message: ``SO_SNDBUF`` less the kernel's per-message overhead."""
        return max(self.get_option(SO_SNDBUF) - _DGRAM_OVERHEAD, 0)

    @classmethod
    def bind(
        cls,
        path: str | UnixAddress | os.PathLike[str] | None = None,
        *,
        mode: int | None = _DEFAULT_MODE,
        timeout: float | None = None,
        options: Iterable[OptionSetting[Any]] = (),
    ) -> Self:
        """Bind to *path* (``None``: an autobound abstract name on Linux) (APUE 17.2.1).

        A stale socket file at *path* is replaced; a live one or a non-socket
        file raises :class:`~transports.errors.AddressInUse`.
        """
        timeout = check_timeout(timeout)
        address = UnixAddress("") if path is None else _as_unix(path)
        sock, owned = _bind_unix(
            Kind.DATAGRAM, address, cls.network, mode=mode, timeout=timeout, settings=options, backlog=None
        )
        return cls(sock, _owned=owned)

    @classmethod
    def connect(
        cls,
        path: str | UnixAddress | os.PathLike[str],
        *,
        local: str | UnixAddress | os.PathLike[str] | None = None,
        timeout: float | None = None,
        options: Iterable[OptionSetting[Any]] = (),
    ) -> Self:
        """Fix the peer to *path*; bind *local* first so the peer can answer.

        With ``local=None`` Linux autobinds an abstract name, so replies reach
        this socket; elsewhere the socket stays unnamed (it can only send).
        Fixing a datagram peer exchanges nothing, so it never waits:
        ``timeout=0`` gives a non-blocking transport, as it does for :meth:`bind`.
        """
        timeout = check_timeout(timeout)
        if local is None:
            local_address = UnixAddress("") if _LINUX else None
            owned = None
        else:
            local_address = _as_unix(local)
            _clear_stale(local_address, Kind.DATAGRAM, local_address.url(cls.network))
            owned = None
        sock = _connect_unix(
            Kind.DATAGRAM, _as_unix(path), cls.network, timeout=timeout, settings=options, local=local_address
        )
        if local_address is not None and not local_address.abstract and not local_address.unnamed:
            owned = _OwnedPath(local_address.path)
        return cls(sock, _owned=owned)

    @classmethod
    def pair(cls) -> tuple[Self, Self]:
        """Two connected ends of a new datagram ``socketpair`` (APUE 17.2)."""
        a, b = _pair(Kind.DATAGRAM)
        return cls(a), cls(b)

    def send_to(
        self,
        data: Buffer,
        address: Address | tuple[str, int] | str,
        flags: SendFlags = SendFlags.NONE,
    ) -> int:
        """Send one message to the socket bound at *address* (a path or UnixAddress)."""
        bits = self._send_bits(flags) if flags else _NOSIGNAL
        if isinstance(address, InetAddress | NamedAddress | tuple):
            raise AddressError(f"a Unix datagram transport sends to a path or UnixAddress, got {address!r}")
        target = _as_unix(address)
        if target.unnamed:
            raise AddressError(
                "send_to needs a socket path or @name, but the address is unnamed (a "
                "socketpair end or an unbound socket cannot be addressed); use send on a "
                "connected transport instead"
            )
        if flags:
            try:
                return self._call(bits, self._sock.sendto, data, bits, target.to_sockaddr())
            except OSError as exc:
                raise self._send_error(exc, "send_to", data) from exc
        return self._send_waking(data, "send_to", target.to_sockaddr())

    def send(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> int:
        """Send one message to the connected peer (APUE 16.5); a full receiver makes it wait."""
        if flags:
            return super().send(data, flags)
        return self._send_waking(data, "send", None)

    def _send_waking(self, data: Buffer, op: str, target: str | bytes | None) -> int:
        """A flag-free send that a close() from another thread can wake (APUE 16.2, 14.4).

        A Unix datagram sender blocked on a full receiver sleeps on the
        *receiver's* queue, where shutting down its own socket does not reach
        it. So without a timeout the send is tried with ``MSG_DONTWAIT`` and,
        when the receiver is full, waits in ``poll(2)`` for room or a hang-up,
        which close() causes; with a timeout Python already polls.
        """
        sock = self._sock
        bits = _NOSIGNAL if sock.gettimeout() is not None else _NOSIGNAL | _DONTWAIT
        self._enter()
        try:
            while True:
                try:
                    if target is None:
                        return sock.send(data, bits)
                    return sock.sendto(data, bits, target)
                except BlockingIOError:
                    if self._closed or not bits & _DONTWAIT:
                        raise
                    poller = select.poll()
                    poller.register(sock, select.POLLOUT)
                    poller.poll()
        except OSError as exc:
            raise self._send_error(exc, op, data) from exc
        finally:
            self._leave()

    def recv_from(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> Datagram:
        """Receive one message and its sender (an unnamed sender has ``UnixAddress("")``)."""
        return self._recv_datagram(max_bytes, flags)


class _UnixListenerBase(SocketListener[TransportT, UnixAddress]):
    __slots__ = ("_allowed", "_owned")
    _listen_kind: ClassVar[Kind]
    _transport: ClassVar[type[Any]]

    def __init__(
        self, sock: socket.socket, owned: _OwnedPath | None, allowed_uids: Collection[int] | None = None
    ) -> None:
        super().__init__(sock, self._transport)
        self._owned = owned
        self._allowed = None if allowed_uids is None else frozenset(allowed_uids)

    def accept(self) -> TransportT:
        """Wait for the next connection (APUE 17.3 ``serv_accept``).

        With ``allowed_uids``, a peer whose user is not in it is disconnected
        and :class:`~transports.errors.PeerRejected` raised (iterating the
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

    def _address(self, raw: Any) -> UnixAddress:
        return UnixAddress.from_sockaddr(raw)

    @classmethod
    def listen(
        cls,
        path: str | UnixAddress | os.PathLike[str],
        *,
        backlog: int = 128,
        mode: int | None = _DEFAULT_MODE,
        timeout: float | None = None,
        options: Iterable[OptionSetting[Any]] = (),
        allowed_uids: Collection[int] | None = None,
    ) -> Self:
        """Bind *path* and listen (APUE 17.3 ``serv_listen``).

        *mode* is the socket file's permissions. *allowed_uids*, when given,
        limits which users' connections :meth:`accept` hands out; the others
        are closed (their uid is checked with ``SO_PEERCRED``).
        """
        if type(backlog) is not int or backlog < 0:  # as TCPListener.listen checks it
            raise ValueError(f"backlog must be an int >= 0, got {backlog!r}")
        if allowed_uids is not None:
            if isinstance(allowed_uids, str | bytes):
                raise TypeError(f"allowed_uids must be a collection of ints, got {allowed_uids!r}")
            allowed_uids = frozenset(allowed_uids)  # once: a generator would be used up by the check
            if not all(type(u) is int for u in allowed_uids):
                raise TypeError(
                    f"allowed_uids must be a collection of ints, got {sorted(map(repr, allowed_uids))}"
                )
        if cls._listen_kind is Kind.SEQPACKET:
            _require_seqpacket()
        timeout = check_timeout(timeout)
        sock, owned = _bind_unix(
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


class UnixListener(_UnixListenerBase[UnixStreamTransport]):
    """A listening Unix stream socket (APUE 17.3 Unique Connections: ``serv_listen``/``serv_accept``).

    The socket file gets *mode* (0o600 by default: only this user may
    connect). A stale socket file left by a dead server is replaced; a live
    server's socket, or any other kind of file, is refused.
    """

    __slots__ = ()
    network = "unix"
    _listen_kind = Kind.STREAM
    _transport = UnixStreamTransport


class UnixSeqpacketListener(_UnixListenerBase[UnixSeqpacketTransport]):
    """A listening Unix seqpacket socket (APUE 17.3 Unique Connections); same file rules as :class:`UnixListener`."""

    __slots__ = ()
    network = "unixpacket"
    _listen_kind = Kind.SEQPACKET
    _transport = UnixSeqpacketTransport
