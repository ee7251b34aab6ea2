"""The Unix socket file: binding, connecting and owning a path (:apue:`17.2`, :apue:`17.3`).

The rules of Unique Connections (:apue:`17.3`) for the three Unix kinds, sync
and async: a socket file left by a dead server is replaced, but a live
server's socket, or any file that is not a socket, is never touched
(:func:`clear_stale`, under the start lock of :func:`start_lock`); the new
file gets its mode before anyone can reach it (:func:`bind_unix`); only the
file a bind made, in the process that made it, is removed on close
(:class:`OwnedPath`). :func:`connect_unix` and :func:`socket_pair` make the
connected sockets.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
import struct
import sys
from collections.abc import Iterable, Iterator
from typing import Any

try:
    # At import, not at first use: with every descriptor taken, importing an
    # extension module fails (EMFILE) with an ImportError that names no socket.
    import fcntl
except ImportError:  # pragma: no cover - platforms without fcntl have no start lock
    fcntl = None  # type: ignore[assignment]

from transports._core.owner import new_socket
from transports._core.sockets import closing_on_error, connect_would_block
from transports.addresses import UnixAddress
from transports.errors import AddressError, AddressInUse, TransportError, translate_os_error
from transports.kinds import Kind
from transports.options import OptionSetting

__all__ = [
    "AF_UNIX",
    "DEFAULT_MODE",
    "LINUX",
    "OwnedPath",
    "bind_unix",
    "clear_stale",
    "connect_unix",
    "require_kind",
    "socket_pair",
    "start_lock",
]

AF_UNIX: int = getattr(socket, "AF_UNIX", -1)
LINUX = sys.platform.startswith("linux")
#: The mode a new socket file gets unless told otherwise: only its user may connect.
DEFAULT_MODE = 0o600


def require_kind(kind: Kind) -> None:
    """Refuse a Unix socket of *kind* this platform lacks: every kind on Windows, seqpacket on macOS."""
    if AF_UNIX < 0:  # pragma: no cover - Windows
        raise TransportError(f"Unix-domain sockets are not available on {sys.platform}")
    if kind is Kind.SEQPACKET and (not hasattr(socket, "SOCK_SEQPACKET") or sys.platform == "darwin"):
        raise TransportError(
            f"Unix seqpacket sockets are not available on {sys.platform}; "
            "use a Unix stream with framing (unix://) instead",
            op="socket",
            address="unixpacket:",
        )


class OwnedPath:
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

    @classmethod
    def made_by_bind(cls, address: UnixAddress) -> OwnedPath | None:
        """The file a bind to *address* just made, or None for an abstract or unnamed address."""
        if address.abstract or address.unnamed:
            return None
        return cls(address.path)

    def chmod(self, mode: int) -> None:
        """Give the file *mode*, if it is still the file the bind made."""
        st = os.lstat(self.path)
        if (st.st_dev, st.st_ino) == self._id and stat.S_IMODE(st.st_mode) != mode:
            os.chmod(self.path, mode)

    def remove(self) -> None:
        """Remove the file if it is still ours (see the class docstring); never raise."""
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


def clear_stale(address: UnixAddress, kind: Kind, where: str) -> None:
    """Remove a socket file at *address* only if no one is listening on it (:apue:`17.3`)."""
    if address.abstract or address.unnamed:
        return
    try:
        st = os.lstat(address.path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise translate_os_error(exc, "inspect", where) from exc
    if not stat.S_ISSOCK(st.st_mode):
        raise _bind_refused(
            where,
            f"{address.path!r} exists and is {_describe_file(st.st_mode)}; "
            "refusing to replace it; choose another path or remove it yourself",
        )
    probe = socket.socket(socket.AF_UNIX, kind.socket_type)
    try:
        probe.setblocking(False)
        probe.connect(address.path)
    except ConnectionRefusedError:
        pass  # a socket file with no one behind it: stale
    except BlockingIOError:
        # A full backlog answers EAGAIN: someone is listening.
        raise _bind_refused(where, _LIVE) from None
    except OSError as exc:
        if exc.errno == errno.EPROTOTYPE:
            raise _bind_refused(
                where, "a socket of another kind is bound there; refusing to replace it"
            ) from exc
        raise translate_os_error(exc, "probe", where) from exc
    else:
        raise _bind_refused(where, _LIVE)
    finally:
        probe.close()
    try:
        os.unlink(address.path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise translate_os_error(exc, "remove stale socket", where) from exc


_LIVE = "another process is listening there; stop it or choose another path"


def _bind_refused(where: str, why: str, code: int = errno.EADDRINUSE) -> TransportError:
    """The error of a bind at *where* refused before the kernel was asked: AddressInUse unless *code* says otherwise."""
    error = AddressInUse if code == errno.EADDRINUSE else TransportError
    return error(f"bind {where}: {why}", errno=code, op="bind", address=where)


def bind_unix(
    kind: Kind,
    address: UnixAddress,
    network: str,
    *,
    mode: int | None,
    timeout: float | None,
    settings: Iterable[OptionSetting[Any]],
    backlog: int | None,
) -> tuple[socket.socket, OwnedPath | None]:
    """Make a socket of *kind* bound at *address* (listening when *backlog* is given) (:apue:`17.3`).

    Under :func:`start_lock`: a stale socket file is removed first
    (:func:`clear_stale`), the file gets *mode* before anyone can connect,
    and on any failure the socket is closed and the file it made removed.
    Returns the socket and the :class:`OwnedPath` of the file (None for an
    abstract or unnamed address).
    """
    require_kind(kind)
    where = address.url(network)
    if mode is not None and not (type(mode) is int and 0 <= mode <= 0o777):
        raise ValueError(f"mode must be a permission int such as 0o600, got {mode!r}")
    with start_lock(address, where):
        clear_stale(address, kind, where)
        sock = new_socket(socket.AF_UNIX, kind, tuple(settings), where, timeout)
        owned: OwnedPath | None = None
        with closing_on_error(sock, "bind" if backlog is None else "listen on", where):
            if mode is not None and LINUX and not address.abstract:
                # Linux gives the new file the socket inode's mode (less umask): set it
                # before bind, so the file is never reachable with looser permissions.
                os.fchmod(sock.fileno(), mode)
            sock.bind(address.to_sockaddr())
            owned = OwnedPath.made_by_bind(address)
            try:
                if owned is not None and mode is not None:
                    # The umask may have narrowed the mode set before bind (or, off
                    # Linux, nothing set it): give the file exactly what was asked.
                    owned.chmod(mode)
                if backlog is not None:
                    sock.listen(backlog)
            except BaseException:
                if owned is not None:
                    owned.remove()
                raise
    return sock, owned


@contextlib.contextmanager
def start_lock(address: UnixAddress, where: str) -> Iterator[None]:
    """Serialise "remove a stale socket file, then bind" between racing starters (:apue:`17.3`).

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
                missing = os.path.dirname(address.path) or "."
                why = f"the directory {missing!r} does not exist (ENOENT); create it first"
                raise _bind_refused(where, why, errno.ENOENT) from exc
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


def connect_unix(
    kind: Kind,
    address: UnixAddress,
    network: str,
    *,
    timeout: float | None,
    settings: Iterable[OptionSetting[Any]],
    local: UnixAddress | None = None,
) -> tuple[socket.socket, OwnedPath | None]:
    """Make a socket of *kind* connected to *address*, bound to *local* first if given (:apue:`17.3`).

    Returns the socket and the :class:`OwnedPath` of the file the bind to
    *local* made (None when there is none). A full listener's queue is
    waited out for *timeout* (:func:`_connect_within`); with ``timeout=0``
    it is :class:`~transports.WouldBlock`. On failure nothing is left
    behind: no socket, no socket file.
    """
    require_kind(kind)
    if address.unnamed:
        raise AddressError(f"connect needs a Unix socket path or @name, got an empty one ({network}:)")
    where = address.url(network)
    sock = new_socket(socket.AF_UNIX, kind, tuple(settings), where, timeout)
    bound: OwnedPath | None = None
    try:
        if local is not None:
            sock.bind(local.to_sockaddr())
            bound = OwnedPath.made_by_bind(local)
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
    return sock, bound


def _connect_within(sock: socket.socket, address: UnixAddress, timeout: float | None) -> None:
    """Connect, waiting at most *timeout* for room in a full listener's queue (:apue:`16.4`).

    A non-blocking Unix connect to a full backlog fails at once with EAGAIN
    (TCP would wait), so for a positive timeout the connect is made blocking
    with SO_SNDTIMEO, which the kernel honours while it waits for room.
    """
    sndtimeo = getattr(socket, "SO_SNDTIMEO", None)
    if not timeout or sndtimeo is None or not LINUX:
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


def socket_pair(kind: Kind) -> tuple[socket.socket, socket.socket]:
    """Two connected Unix sockets of *kind* (``socketpair``, :apue:`17.2`)."""
    require_kind(kind)
    try:
        return socket.socketpair(socket.AF_UNIX, kind.socket_type)
    except OSError as exc:
        raise translate_os_error(exc, "socketpair", f"unix ({kind.value})") from exc
