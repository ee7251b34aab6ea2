"""A process named by a descriptor instead of a number: peer identity that survives PID reuse (:apue:`17.3`).

A pid is only a number, and the kernel hands a number out again once the
process that had it is gone and reaped. A server that reads its peer's pid
(``SO_PEERCRED``) and later signals it, or looks it up in ``/proc``, may reach
an unrelated process that got the same number meanwhile. A *pidfd* is a
descriptor that refers to one process for as long as it is open: it never
comes to mean another one. It polls readable once that process has exited
(:apue:`14.4`), and ``pidfd_send_signal(2)`` through it fails with ``ESRCH``
instead of signalling a newcomer. Linux 6.5 and later hand a Unix socket's
peer as a pidfd (``SO_PEERPIDFD``); :class:`PidFd` owns one.

This module sits on the lowest floor with the value types (it imports only
the standard library), so that :class:`~transports.Credentials` can carry a
:class:`PidFd`.
"""

from __future__ import annotations

import errno
import os
import platform
import select
import signal
import socket
import sys
import warnings
from types import TracebackType
from typing import NoReturn, Self

__all__ = ["SO_PEERPIDFD", "PidFd", "ProcessExited", "peer_pidfd"]

#: Machines whose ``asm/socket.h`` numbers SO_PEERPIDFD otherwise (parisc, sparc):
#: there the option is left undefined rather than guessed.
_OWN_NUMBERS = ("parisc", "sparc")


def _peer_pidfd_number() -> int | None:
    value = getattr(socket, "SO_PEERPIDFD", None)  # Python 3.13+ on Linux
    if value is not None:
        return int(value)
    if not sys.platform.startswith("linux") or platform.machine().lower().startswith(_OWN_NUMBERS):
        return None
    return 77  # asm-generic/socket.h; the kernel answers ENOPROTOOPT before 6.5


#: The ``SOL_SOCKET`` option that returns a pidfd of a Unix socket's peer
#: (Linux 6.5 and later), or None on a platform that has none (:apue:`17.3`).
SO_PEERPIDFD: int | None = _peer_pidfd_number()

#: What getsockopt(SO_PEERPIDFD) fails with when this kernel cannot hand out a pidfd:
#: it lacks the option (before 6.5), or the peer is already reaped (older kernels).
_NO_PIDFD = frozenset({errno.ENOPROTOOPT, errno.EINVAL, errno.ESRCH, errno.EOPNOTSUPP})
_POLLIN = select.POLLIN


class ProcessExited(ProcessLookupError):
    """The process a :class:`PidFd` refers to has exited: it can no longer be signalled (:apue:`17.3`).

    A :class:`ProcessLookupError` (``ESRCH``), as ``os.kill`` raises for
    a pid nobody has. Through a pidfd it means exactly this process is gone,
    even when its number already names another one. ``pid`` is the number it had.
    """

    pid: int

    def __init__(self, message: str, *, pid: int) -> None:
        super().__init__(errno.ESRCH, message)
        self.pid = pid

    def __str__(self) -> str:
        return str(self.strerror)

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_exited, (str(self.strerror), self.pid))


def _rebuild_exited(message: str, pid: int) -> ProcessExited:
    return ProcessExited(message, pid=pid)


class PidFd:
    """An open descriptor that refers to one process, whatever its pid comes to mean later (:apue:`17.3`, :apue:`14.4`).

    ``peer_credentials(pidfd=True)`` on a connected Unix socket returns one in
    :attr:`Credentials.pidfd <transports.Credentials.pidfd>`; :meth:`open`
    makes one for a pid. It owns its descriptor (close-on-exec): close it, or
    use it as a context manager. One left open is closed when it is
    collected, with a :class:`ResourceWarning`, as an unclosed socket is.
    The descriptor can be polled (readable once the process has exited), so
    an event loop can wait for that with ``loop.add_reader(pidfd.fileno(), ...)``.

    >>> import os
    >>> from transports.pidfd import PidFd
    >>> with PidFd.open(os.getpid()) as me:
    ...     me.is_alive()
    True
    """

    __slots__ = ("_fd", "_pid")

    def __init__(self, fd: int, pid: int) -> None:
        """Take ownership of the pidfd *fd*, which refers to the process that had the number *pid*."""
        if fd.__class__ is not int or fd < 0:
            raise ValueError(f"PidFd takes an open descriptor (an int >= 0), got {fd!r}")
        self._fd = fd
        self._pid = pid

    @classmethod
    def open(cls, pid: int) -> Self:
        """A pidfd of the process that has the number *pid* now (``pidfd_open(2)``, Linux 5.3 and later).

        Safe for a child of yours that you have not reaped (its number
        cannot be reused before you wait for it); for any other process the
        number may already name another one by the time it is opened, so
        prefer the pidfd the kernel took with the connection.
        A number nobody has raises :class:`ProcessLookupError`.
        """
        pidfd_open = getattr(os, "pidfd_open", None)
        if pidfd_open is None:  # pragma: no cover - not Linux
            raise OSError(
                errno.ENOSYS, f"PidFd.open({pid}): this platform ({sys.platform}) has no pidfd_open"
            )
        try:
            fd = pidfd_open(pid)
        except ProcessLookupError as exc:
            raise ProcessLookupError(
                errno.ESRCH, f"PidFd.open: no process has pid {pid} (it exited, or never existed)"
            ) from exc
        return cls(fd, pid)

    @property
    def pid(self) -> int:
        """The number the process had when this pidfd was made (kept after the process is gone)."""
        return self._pid

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._fd < 0

    def fileno(self) -> int:
        """The descriptor, to poll (readable once the process has exited) or to pass on; still owned here."""
        return self._open_fd("fileno")

    def is_alive(self) -> bool:
        """Whether the process is still running: it has not exited (a zombie counts as exited).

        One ``poll(2)`` that never waits: the kernel makes a pidfd readable
        when its process exits. True may be out of date at once; False stays true.
        """
        poller = select.poll()
        poller.register(self._open_fd("is_alive"), _POLLIN)
        return not poller.poll(0)

    def send_signal(self, sig: int) -> None:
        """Send signal *sig* to this process, and never to another that got its pid (``pidfd_send_signal(2)``).

        ``os.kill(pid, sig)`` looks the number up when it is called: if the
        process has exited and been reaped, and its number given to a new
        process, the signal goes to the newcomer. Through the pidfd the
        kernel signals the process the descriptor refers to, or, when that
        one has exited, nobody: :class:`ProcessExited` is raised.
        ``send_signal(0)`` checks without signalling. A process you may not
        signal raises :class:`PermissionError`.
        """
        fd = self._open_fd("send_signal")
        try:
            signal.pidfd_send_signal(fd, sig)
        except ProcessLookupError as exc:
            raise ProcessExited(
                f"send_signal({_signal_name(sig)}) to pid {self._pid}: that process has exited, so "
                "nothing was sent (its pid may already belong to another process, which the pidfd "
                "never reaches)",
                pid=self._pid,
            ) from exc
        except PermissionError as exc:
            raise PermissionError(
                errno.EPERM,
                f"send_signal({_signal_name(sig)}) to pid {self._pid}: not allowed; a process may "
                "signal only processes of its own user unless it has CAP_KILL",
            ) from exc

    def close(self) -> None:
        """Close the descriptor; calling it again does nothing."""
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_fd", -1) >= 0:
            warnings.warn(f"unclosed {self!r}", ResourceWarning, stacklevel=2, source=self)
            self.close()

    def __repr__(self) -> str:
        state = "closed" if self._fd < 0 else f"fd={self._fd}"
        return f"<PidFd pid={self._pid} {state}>"

    def __reduce__(self) -> NoReturn:
        raise TypeError(f"{self!r} cannot be copied or serialised: its descriptor belongs to this process")

    def _open_fd(self, op: str) -> int:
        fd = self._fd
        if fd < 0:
            raise ValueError(f"{op} on the PidFd of pid {self._pid}: it is closed")
        return fd


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return str(sig)


def peer_pidfd(sock: socket.socket, pid: int) -> PidFd | None:
    """A :class:`PidFd` of the connected Unix socket *sock*'s peer, whose pid is *pid* (:apue:`17.3`).

    None where the platform or kernel cannot give one: no ``SO_PEERPIDFD``
    (Linux before 6.5, other systems), or a peer already exited and reaped
    on kernels that refuse a pidfd for it (newer ones hand out a pidfd that
    reports it gone). Other failures raise the :class:`OSError`.
    """
    if SO_PEERPIDFD is None:
        return None
    try:
        fd = sock.getsockopt(socket.SOL_SOCKET, SO_PEERPIDFD)
    except OSError as exc:
        if exc.errno in _NO_PIDFD:
            return None
        raise
    return PidFd(fd, pid)
