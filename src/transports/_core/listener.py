"""Listeners: a passive socket that hands out transports, and a threaded ``serve`` (:apue:`16.4`, :apue:`15.11`).

The stop of a ``serve`` (what is shared with the async face, which only
waits differently) is in :mod:`transports._core.serving`.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Generic, Self, TypeVar

from transports._core.owner import SocketOwner, close_lock, pid_global, prepare_socket
from transports._core.serving import SKIPPED, Served, Serving
from transports._core.sockets import check_listening
from transports._core.transport import AddrT, SocketTransport
from transports._core.validate import check_timeout
from transports.addresses import Address
from transports.errors import PeerRejected, TransportClosed, translate_os_error

#: This process's pid, renewed at fork by transports._core.owner: calls in flight carry it.
_PID = pid_global(globals())

TransportT = TypeVar("TransportT", bound="SocketTransport[Any]")

#: Notified when an accept leaves a closed listener: close() waits for the accepts it woke.
_LEFT = threading.Condition()
#: How long close() waits for the accepts it woke to leave (they leave at once; this only bounds a bug).
_LEAVE_WAIT = 5.0


def _after_fork_in_child() -> None:
    global _LEFT  # noqa: PLW0603 - renewed once per fork: a thread of the parent may have held it
    _LEFT = threading.Condition()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class SocketListener(SocketOwner, Generic[TransportT, AddrT]):
    """Base of the listeners: a passive socket that hands out transports (:apue:`16.4`)."""

    __slots__ = ("_accepting", "_servings", "_timeout", "_wake", "_wrap")

    def __init__(self, sock: socket.socket, wrap: Callable[[socket.socket], TransportT]) -> None:
        #: The serve() calls running on this listener, in this process or (after a fork) the parent.
        self._servings: list[Serving[Any]] = []
        prepare_socket(sock)
        #: How long accept() may wait (None: for ever). The socket itself stays non-blocking:
        #: accept waits in poll(2) beside the wake descriptor, which close() makes readable.
        self._timeout = sock.gettimeout()
        #: (pid, descriptor) of the eventfd (or pipe ends) close() writes to wake accept; made
        #: by the first accept that waits, per process (a forked child makes its own).
        self._wake: tuple[int, int, int] | None = None
        #: (pid, thread) of each thread inside accept(): close() waits for those of its process it woke.
        self._accepting: list[tuple[int, int]] = []
        sock.settimeout(0)
        self._own(sock)
        self._wrap = wrap

    @property
    def timeout(self) -> float | None:
        """Seconds :meth:`accept` may wait: None for ever, 0 never (it raises WouldBlock).

        The socket itself is non-blocking whatever this says: a listener
        shared with other processes (systemd's copy, a successor's) is never
        shut down to wake a waiting accept, and its blocking mode, which the
        processes share, never changes.
        """
        return self._timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self._timeout = check_timeout(value)

    #: The address families and socket type a listener of this class accepts from ``from_socket``.
    _families: ClassVar[tuple[int, ...]]
    _socket_type: ClassVar[int]

    def _address(self, raw: Any) -> AddrT:
        """Decode what getsockname returns."""
        raise NotImplementedError

    @classmethod
    def _adopt(cls, sock: socket.socket) -> Self:
        """A listener of this class owning the checked, listening *sock*."""
        raise NotImplementedError

    @classmethod
    def from_socket(cls, sock: socket.socket) -> Self:
        """Wrap a listening :class:`socket.socket`, taking ownership of it (:apue:`16.4`).

        For sockets made elsewhere: inherited from a parent, passed by
        systemd or received from another process with ``recv_fds``. The
        socket must be of this class's family and type and already
        listening; anything else is refused with :class:`ValueError` (or
        :class:`TypeError`) and left open, still the caller's. The
        listener's :attr:`timeout` starts at ``None`` (accept waits for
        ever); the socket itself becomes non-blocking, as every listener's
        is, so the processes sharing it never see its mode flip. A Unix
        socket's file is never removed by the adopted listener: it did not
        make it.
        """
        check_listening(f"{cls.__name__}.from_socket", cls.network, sock, cls._families, cls._socket_type)
        sock.settimeout(None)  # the listener's timeout; the socket is made non-blocking underneath
        return cls._adopt(sock)

    @property
    def address(self) -> AddrT:
        """Where connections arrive (port 0 resolved to the real port)."""
        try:
            return self._address(self._sock.getsockname())
        except OSError as exc:
            raise translate_os_error(exc, "getsockname", f"{self.network}:(listener)") from exc

    def _where(self) -> str:
        if self._sock.fileno() == -1:
            return f"{self.network}:(closed listener)"
        return self.address.url(self.network)

    def accept(self) -> TransportT:
        """Wait for the next connection (:apue:`16.4`).

        The new transport is blocking (timeout None) whatever the listener's timeout.
        """
        me = (_PID, threading.get_ident())
        self._accepting.append(me)
        calls = self._calls
        calls.append(_PID)
        try:
            try:
                sock, _ = self._sock.accept()
            except BlockingIOError:
                if self._timeout == 0:
                    raise
                sock = self._accept_waiting()
        except OSError as exc:
            if self._closed or self._sock.fileno() == -1 or exc.errno == errno.EINVAL:
                raise self._listener_closed() from exc
            raise translate_os_error(
                exc,
                "accept on",
                self._where(),
                timeout=self._timeout,
                network=self.network,
                local=self._ends()[0],
            ) from exc
        finally:
            del calls[-1]
            if self._closed:
                self._settle()
            self._accepting.remove(me)
            if self._closed:
                with _LEFT:
                    _LEFT.notify_all()
        if self._closed:
            # A connection that raced close(): the listener hands out nothing more.
            sock.close()
            raise self._listener_closed()
        sock.settimeout(None)
        try:
            return self._wrap(sock)
        except BaseException:
            sock.close()
            raise

    def _accept_waiting(self) -> socket.socket:
        """Wait in ``poll(2)`` for a connection, the timeout, or close(); then accept it.

        close() wakes it through the wake descriptor, never with
        ``shutdown(2)``, which would stop the listening socket in every
        process holding it. A connection another process or thread took
        first (EAGAIN) means waiting again.
        """
        listening = self._sock
        with close_lock():  # close() holds it too: it finds the wake descriptor, or we find it closed
            if self._closed:
                raise OSError(errno.EBADF, "closed")
            wake = self._wake_descriptor()
        poller = select.poll()
        poller.register(listening, select.POLLIN)
        poller.register(wake, select.POLLIN)
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        while True:
            wait = None if deadline is None else math.ceil(max(deadline - time.monotonic(), 0) * 1000)
            ready = poller.poll(wait)
            if self._closed:
                raise OSError(errno.EBADF, "closed")
            if not ready:
                raise TimeoutError("timed out")  # as socket.timeout says it: the message names the timeout
            try:
                sock, _ = listening.accept()
            except BlockingIOError:
                continue  # another process or thread took it first
            return sock

    def _wake_descriptor(self) -> int:
        """This process's wake descriptor (made now if it has none); called under the close lock."""
        wake = self._wake
        if wake is not None and wake[0] == _PID:
            return wake[1]
        if wake is not None:  # a copy inherited from the parent: ours to close, never to write
            _close_wake(wake)
        if hasattr(os, "eventfd"):
            fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
            self._wake = (_PID, fd, fd)
        else:  # pragma: no cover - platforms without eventfd
            read, write = os.pipe()
            os.set_blocking(write, False)
            self._wake = (_PID, read, write)
        return self._wake[1]

    def _wake_calls(self) -> None:
        wake = self._wake
        if wake is None or wake[0] != _PID:
            return  # nothing of ours waits in poll yet; a call about to wait finds the listener closed
        with contextlib.suppress(OSError):  # full (it is already readable) or closed
            os.write(wake[2], (1).to_bytes(8, "little"))

    def _after_close(self) -> None:
        wake, self._wake = self._wake, None
        if wake is not None:
            _close_wake(wake)

    def _listener_closed(self) -> TransportClosed:
        return TransportClosed(
            f"accept on {self._where()}: the listener was closed; make a new one to accept again",
            errno=errno.EBADF,
            op="accept",
            address=self._where(),
            network=self.network,
            local=self._ends()[0],
        )

    def _ends(self) -> tuple[Address | None, Address | None]:
        with contextlib.suppress(OSError, ValueError):
            return self._address(self._sock.getsockname()), None
        return None, None

    def __iter__(self) -> Iterator[TransportT]:
        """Accept connections until the listener is closed (then stop quietly)."""
        while True:
            try:
                yield self.accept()
            except PeerRejected:
                continue  # already disconnected; the next peer may be allowed
            except TransportClosed:
                return

    # -- serving (APUE 15.11) ------------------------------------------------------------

    def close(self) -> None:
        """Stop listening (:apue:`16.2`); a ``serve`` running on this listener begins its stop.

        A thread blocked in :meth:`accept` wakes with TransportClosed, and
        close() returns once it left, the descriptor closed: a connect
        after close() is refused unless another process holds the socket
        too (systemd, a successor, a forked worker), which keeps listening
        -- close() never shuts the shared socket down. Each running
        :meth:`serve` stops accepting, wakes its idle handlers and gives
        the others its *grace*. A forked child closing its copy stops
        nothing of the parent's.
        """
        for serving in self._servings:
            if serving.pid == _PID:
                serving.stop()
        super().close()
        me = (_PID, threading.get_ident())
        with _LEFT:  # this process's other threads only: a forked child inherits the parent's entries
            _LEFT.wait_for(lambda: all(t == me or t[0] != me[0] for t in self._accepting), _LEAVE_WAIT)

    def _serving(self, serving: Serving[Any]) -> _Registered:
        """``with listener._serving(s):`` counts *s* as running on this listener: close() stops it."""
        return _Registered(self._servings, serving)

    def serve(
        self,
        handler: Callable[[TransportT], object],
        *,
        grace: float | None = None,
        max_connections: int | None = None,
    ) -> Served:
        """Accept connections and run ``handler(conn)`` in a thread of its own for each (:apue:`16.4`, :apue:`15.11`).

        Each connection is closed when its handler returns or fails; a
        handler's exception goes to :func:`threading.excepthook` and serving
        goes on. With *max_connections*, at most that many handlers run at
        once: the next connection waits in the listen backlog, not accepted.

        :meth:`close`, from any thread (a handler included), stops it:
        nothing more is accepted (a connect is refused), handlers waiting in
        a receive wake to end of stream, and the handlers still running
        after *grace* seconds (None: as long as they take) have their
        connection reset (``SO_LINGER`` 0): their calls wake with
        TransportClosed. ``serve`` returns once every handler thread ended,
        with :class:`~transports.Served` saying which
        connections were cut. An exception in ``serve`` itself (a
        KeyboardInterrupt) closes every connection, waits for the handler
        threads and propagates; the listener stays open.
        """
        serving: Serving[TransportT] = Serving(grace, max_connections, _PID)
        threads: list[threading.Thread] = []
        with self._serving(serving):
            try:
                while (conn := self._next(serving)) is not None:
                    thread = threading.Thread(
                        target=_run, args=(serving, handler, conn), name=f"serve {conn!r}", daemon=True
                    )
                    threads[:] = [t for t in threads if t.is_alive()]
                    threads.append(thread)
                    thread.start()
                serving.stop()
                with serving.changed:
                    serving.changed.wait_for(lambda: not serving.live, serving.left())
                for conn in serving.cut_rest():
                    conn.close()  # wakes the handler's call in flight, if any
            except BaseException:
                for conn in serving.abandon():
                    conn.close()  # wakes the handler's call in flight with TransportClosed
                raise
            finally:
                for thread in threads:
                    thread.join()
        return serving.result()

    def _next(self, serving: Serving[TransportT]) -> TransportT | None:
        """The next connection to serve, once there is room; None once the stop began."""
        while True:
            with serving.changed:
                serving.changed.wait_for(lambda: serving.has_room)
            if serving.stopping:
                return None
            try:
                conn = self.accept()
            except SKIPPED:
                continue
            except TransportClosed:
                return None
            return conn if serving.take(conn) else None


def withdraw(listener: SocketListener[Any, Any]) -> None:
    """Stop *listener* accepting in this process alone; the socket stays listening for the others (:apue:`17.4`).

    For a listener another process now serves too (a hand-off's
    successor): its descriptor is made to name a new, unbound socket
    (``dup2``), so the next ``accept`` here fails as if closed, and an
    accept waiting in ``poll(2)`` is woken through the wake descriptor.
    An accept already under way finishes with its connection, which is
    served as usual: nothing is taken from the queue and then dropped.
    The object still needs :meth:`~SocketListener.close`.
    """
    with close_lock():
        sock = listener._sock
        if listener._closed or sock.fileno() == -1:
            return
        with socket.socket(sock.family, sock.type) as dead:
            dead.setblocking(False)
            os.dup2(dead.fileno(), sock.fileno(), inheritable=False)
        listener._wake_calls()


def _close_wake(wake: tuple[int, int, int]) -> None:
    """Close a wake descriptor (both pipe ends where there is no eventfd)."""
    for fd in {wake[1], wake[2]}:
        with contextlib.suppress(OSError):
            os.close(fd)


def _run(serving: Serving[TransportT], handler: Callable[[TransportT], object], conn: TransportT) -> None:
    """A handler thread: run *handler*, close *conn*; an exception worth reporting goes to threading.excepthook."""
    failure: BaseException | None = None
    try:
        handler(conn)
    except BaseException as exc:
        failure = exc
    # Forgotten before it is closed: the stop never shuts down a socket being closed here.
    report = serving.ended(conn, failure)
    conn.close()
    if report and failure is not None:
        raise failure


class _Registered:
    """The context manager of :meth:`SocketListener._serving`."""

    __slots__ = ("_serving", "_servings")

    def __init__(self, servings: list[Serving[Any]], serving: Serving[Any]) -> None:
        self._servings = servings
        self._serving = serving

    def __enter__(self) -> None:
        self._servings.append(self._serving)

    def __exit__(self, *exc_info: object) -> None:
        self._servings.remove(self._serving)
