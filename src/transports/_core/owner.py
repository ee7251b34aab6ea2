"""Socket ownership: one owned socket, closed once, even with calls in flight (:apue:`16.2`).

:class:`SocketOwner` is what transports and listeners share: the socket,
``close()`` semantics that wake a call blocked in another thread (its
docstring tells how), the ResourceWarning of an unclosed owner, timeout and
options. :func:`new_socket` and :func:`prepare_socket` make the sockets it
owns.

The pid that calls in flight carry changes at ``fork``: it is read only here,
through :meth:`SocketOwner._enter` and the methods around it, never imported.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import threading
import warnings
from collections.abc import Iterable
from types import TracebackType
from typing import Any, ClassVar, TypeVar

from transports._closing import CloseOnExit
from transports._core.sockflags import NOSIGNAL
from transports._core.validate import check_timeout
from transports.addresses import Address
from transports.errors import TransportClosed, TransportError, translate_os_error
from transports.kinds import Kind
from transports.options import OptionSetting, SocketOption, apply_option, apply_settings, read_option

T = TypeVar("T")

#: Serialises close() against the last blocked call leaving (rare: held only
#: while closing or while a call finds its transport closed).
_CLOSE_LOCK = threading.RLock()
#: The globals of every module whose calls in flight carry a pid: this one and
#: the hot paths of transport, stream, message and listener. Each keeps the pid
#: in its own module global ``_PID``, the cheapest read there is (a class
#: attribute read through ``self`` costs ~25 ns more per call on Python 3.11,
#: measured by benchmarks/hotpath.py); the fork hook below renews them all.
_PID_HOLDERS: list[dict[str, Any]] = []


def pid_global(namespace: dict[str, Any]) -> int:
    """Keep *namespace*'s ``_PID`` equal to this process's pid, across forks; return it.

    A module whose calls in flight carry the pid (see :class:`SocketOwner`)
    writes ``_PID = pid_global(globals())`` and reads ``_PID`` when a call
    starts. Never import a pid by value: a forked child would keep the parent's.
    """
    _PID_HOLDERS.append(namespace)
    return os.getpid()


#: The pid that calls in flight are tagged with; a forked child gets its own
#: (see SocketOwner.close: calls of the parent's threads do not exist there).
_PID = pid_global(globals())


def close_lock() -> threading.RLock:
    """The lock close() holds while it marks an object closed and wakes its calls (renewed at fork)."""
    return _CLOSE_LOCK


def _close_fd(fd: int) -> None:
    """close(2) a descriptor detached from its socket object (-1: already closed)."""
    if fd < 0:
        return
    with contextlib.suppress(ConnectionResetError):  # as socket.close: a reset is no failure to close
        os.close(fd)


def prepare_socket(sock: socket.socket) -> None:
    """Make a new socket safe to own: no SIGPIPE where MSG_NOSIGNAL is missing."""
    if not NOSIGNAL and hasattr(socket, "SO_NOSIGPIPE"):  # pragma: no cover - BSD/macOS
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_NOSIGPIPE, 1)


class _InFlight:
    """The context manager of :meth:`SocketOwner._in_flight`."""

    __slots__ = ("_op", "_owner")

    def __init__(self, owner: SocketOwner, op: str) -> None:
        self._owner = owner
        self._op = op

    def __enter__(self) -> None:
        self._owner._enter()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        owner = self._owner
        owner._leave()
        if isinstance(exc, TransportError) and not isinstance(exc, TransportClosed) and owner._closed:
            # Whatever the woken call saw (EOF, EPIPE, a poll's timeout), the cause is close().
            raise owner._closed_error(self._op, bytes_sent=exc.bytes_sent) from exc


class SocketOwner(CloseOnExit):
    """What transports and listeners share: one owned socket, closed once (:apue:`16.2`).

    ``close(2)`` alone is not enough when another thread is blocked on the
    socket: on Linux the blocked call keeps waiting (and may return data that
    arrived after the close), and the descriptor number can be reused by the
    next ``open`` while that call still names it. So each blocking call
    records itself in ``_calls`` while it runs, tagged with this process's
    pid. :meth:`close` then works as Go's ``net`` package does:

    * no call of this process in flight: a plain ``close(2)``, which drops only
      this process's reference; a forked parent or child that shares the
      socket keeps its connection (:apue:`16.2`: close vs shutdown);
    * calls in flight: ``shutdown(SHUT_RDWR)`` wakes them (they end with
      :class:`~transports.TransportClosed`), and the last one to leave
      closes the descriptor.

    A forked child inherits the parent's ``_calls`` list, but none of the
    parent's threads: their entries carry the parent's pid and are ignored.
    """

    __slots__ = ("__weakref__", "_calls", "_closed", "_sock")

    #: Go-style network name used in URLs and messages ("tcp", "unixgram" ...).
    network: ClassVar[str]
    _sock: socket.socket
    #: The pid of every call in flight on this socket (see the class docstring).
    _calls: list[int]
    _closed: bool

    def _own(self, sock: socket.socket) -> None:
        """Take *sock* as this object's socket; nothing in flight, not closed."""
        self._sock = sock
        self._calls = []
        self._closed = False

    def _where(self) -> str:
        """A URL naming this socket for error messages."""
        raise NotImplementedError

    @property
    def raw_socket(self) -> socket.socket:
        """The owned :class:`socket.socket`, for calls this class does not wrap.

        Do not close it or change its blocking mode behind the owner's back.
        """
        return self._sock

    def fileno(self) -> int:
        """The socket's file descriptor (-1 once closed): usable with ``os.read``/``select``."""
        return -1 if self._closed else self._sock.fileno()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._closed or self._sock.fileno() == -1

    def close(self) -> None:
        """Close the socket (:apue:`16.2`). Closing again does nothing.

        A call blocked on this object in another thread wakes promptly with
        :class:`~transports.TransportClosed`, and no data that arrives
        afterwards is handed out. Only this process's reference is dropped:
        after a ``fork``, the other process's copy keeps working.
        """
        with _CLOSE_LOCK:
            if self._closed:
                return
            self._closed = True
            if _PID in self._calls:
                # A thread of ours is blocked on the socket: wake it (close(2)
                # would not), and the last call out closes the fd.
                self._wake_calls()
                return
            # Detached under the lock (a call that starts now finds no descriptor),
            # closed outside it: with SO_LINGER, close(2) itself may wait.
            fd = self._sock.detach()
        _close_fd(fd)
        self._after_close()

    def _wake_calls(self) -> None:
        """Wake this process's calls blocked on the socket; close() calls it under the close lock.

        ``shutdown(2)`` wakes them. Under a timeout Python polls, then calls
        without waiting, and polls again on EAGAIN: a shut-down datagram
        socket polls readable but has nothing to give, so that loop would
        spin until the deadline. Timeout 0 makes it give up. (Listeners wake
        their ``accept`` another way: shutdown acts on the socket, which other
        processes may hold too.)
        """
        with contextlib.suppress(OSError):
            self._sock.settimeout(0)
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)

    def _after_close(self) -> None:
        """The descriptor was just closed in this process: release what went with it (nothing by default)."""

    def _enter(self) -> None:
        """A blocking call starts: count it as in flight until :meth:`_leave` (see the class docstring)."""
        self._calls.append(_PID)

    def _in_flight(self, op: str) -> _InFlight:
        """``with self._in_flight(op):`` around a long call (``sendfile``): counted as in flight.

        An error it raises after close() becomes TransportClosed, with the same count.
        """
        return _InFlight(self, op)

    def _leave(self) -> None:
        """A call in flight ends: forget it; the last one out after close() closes the fd."""
        self._calls.pop()
        if self._closed:
            self._settle()

    def _settle(self) -> None:
        """After close(): close the descriptor unless a call of this process is still in flight."""
        with _CLOSE_LOCK:
            if _PID in self._calls:
                return
            fd = self._sock.detach()
        _close_fd(fd)
        self._after_close()

    def _closed_error(self, op: str, *, bytes_sent: int | None = None) -> TransportClosed:
        """The error for a call that finds (or found, on waking) this object closed."""
        where = self._where()
        local, remote = self._ends()
        return TransportClosed(
            f"{op} {where}: the transport was closed (by close(), perhaps in another thread) "
            "before or while this call waited; nothing that arrived after the close is "
            "handed out; open a new transport",
            errno=errno.EBADF,
            op=op,
            address=where,
            bytes_sent=bytes_sent,
            network=self.network,
            local=local,
            remote=remote,
        )

    def _ends(self) -> tuple[Address | None, Address | None]:
        """This end's and the peer's address for an error, as far as they can still be known."""
        return None, None

    def __del__(self) -> None:
        # A ResourceWarning that names the transport and its URL, not just the inner socket.
        try:
            sock = self._sock
            if self._closed or sock.fileno() == -1:
                return
            try:
                where = f" {self._where()}"
            except Exception:
                where = ""
            warnings.warn(
                f"unclosed {type(self).__name__}{where}: call close(), or open it in a with block",
                ResourceWarning,
                stacklevel=2,
                source=self,
            )
            sock.close()
        except Exception:
            return

    def __repr__(self) -> str:
        if self.closed:
            return f"<{type(self).__name__} closed>"
        return f"<{type(self).__name__} {self._describe()}>"

    def _describe(self) -> str:
        return self._where()

    @property
    def timeout(self) -> float | None:
        """Seconds a blocking call may wait: None forever, 0 never (non-blocking).

        ``send_all`` and ``recv_exactly`` spread it over their whole loop;
        for a listener it bounds ``accept()``.
        """
        return self._sock.gettimeout()

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        value = check_timeout(value)
        try:
            self._sock.settimeout(value)
        except OSError as exc:
            raise translate_os_error(exc, "set timeout on", self._where()) from exc

    def get_option(self, option: SocketOption[T]) -> T:
        """Read a socket option as its typed value (:apue:`16.6`)."""
        return read_option(self._sock, option, self._where())

    def set_option(self, option: SocketOption[T], value: T) -> None:
        """Set a socket option (:apue:`16.6`); the value's type is checked."""
        apply_option(self._sock, option, value, self._where())


def _after_fork_in_child() -> None:
    # A new pid for new calls, and a fresh lock: a thread of the parent may
    # have held the old one at the fork, and that thread does not exist here.
    global _CLOSE_LOCK  # noqa: PLW0603 - set once per fork, taken only by close() and the last call out
    pid = os.getpid()
    for namespace in _PID_HOLDERS:  # this module's _PID among them
        namespace["_PID"] = pid
    _CLOSE_LOCK = threading.RLock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def new_socket(
    family: int,
    kind: Kind,
    settings: Iterable[OptionSetting[Any]],
    where: str,
    timeout: float | None,
) -> socket.socket:
    """Create a socket, apply settings and timeout; close it if any step fails."""
    try:
        sock = socket.socket(family, kind.socket_type)
    except OSError as exc:
        raise translate_os_error(exc, "socket for", where) from exc
    try:
        prepare_socket(sock)
        apply_settings(sock, settings, where)
        sock.settimeout(timeout)
    except BaseException:
        sock.close()
        raise
    return sock
