"""Listeners: a passive socket that hands out transports, and a threaded ``serve`` (:apue:`16.4`, :apue:`15.11`).

The stop of a ``serve`` (what is shared with the async face, which only
waits differently) is in :mod:`transports._core.serving`.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from transports._core.owner import SocketOwner, pid_global, prepare_socket
from transports._core.serving import SKIPPED, Served, Serving
from transports._core.transport import AddrT, SocketTransport
from transports.addresses import Address
from transports.errors import PeerRejected, TransportClosed, translate_os_error

#: This process's pid, renewed at fork by transports._core.owner: calls in flight carry it.
_PID = pid_global(globals())

TransportT = TypeVar("TransportT", bound="SocketTransport[Any]")


class SocketListener(SocketOwner, Generic[TransportT, AddrT]):
    """Base of the listeners: a passive socket that hands out transports (:apue:`16.4`)."""

    __slots__ = ("_servings", "_wrap")

    def __init__(self, sock: socket.socket, wrap: Callable[[socket.socket], TransportT]) -> None:
        #: The serve() calls running on this listener, in this process or (after a fork) the parent.
        self._servings: list[Serving[Any]] = []
        prepare_socket(sock)
        self._own(sock)
        self._wrap = wrap

    def _address(self, raw: Any) -> AddrT:
        """Decode what getsockname returns."""
        raise NotImplementedError

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
        calls = self._calls
        calls.append(_PID)
        try:
            sock, _ = self._sock.accept()
        except OSError as exc:
            if self._closed or self._sock.fileno() == -1 or exc.errno == errno.EINVAL:
                raise self._listener_closed() from exc
            raise translate_os_error(
                exc,
                "accept on",
                self._where(),
                timeout=self.timeout,
                network=self.network,
                local=self._ends()[0],
            ) from exc
        finally:
            del calls[-1]
            if self._closed:
                self._settle()
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

        A thread blocked in :meth:`accept` wakes with TransportClosed. Each
        running :meth:`serve` stops accepting, wakes its idle handlers and
        gives the others its *grace*. A forked child closing its copy stops
        nothing of the parent's.
        """
        for serving in self._servings:
            if serving.pid == _PID:
                serving.stop()
        super().close()

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
