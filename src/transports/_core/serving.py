"""Graceful serving, the part both faces share: live connections, the grace deadline, the result (:apue:`15.11`, :apue:`16.4`).

A server that stops does three things, as Go's ``http.Server.Shutdown``
does: it stops accepting; it wakes the handlers that sit idle in a receive
(each connection's read side is shut down, so a receive sees end of stream
once the bytes that already arrived are read, while a handler in the middle
of a request can still send its answer); and at the grace deadline it cuts
the connections still open (``SO_LINGER`` 0, so that the peer sees a reset,
not an orderly end). :class:`Serving` keeps that bookkeeping for one
``serve()`` call and never waits: the sync listener waits on its condition
in threads, the async one on the event loop. :class:`Served` is what
``serve()`` returns.
"""

from __future__ import annotations

import contextlib
import math
import socket
import threading
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

import attrs

from transports._core.deadline import Deadline
from transports.addresses import Address
from transports.errors import PeerRejected, TransportError, TransportTimeout
from transports.options import SO_LINGER, Linger

__all__ = ["SKIPPED", "Served", "Serving", "check_grace", "check_max_connections"]

#: What a serving accept loop skips to accept again: a peer refused (``allowed_uids``), or a
#: quiet spell under the listener's timeout (it bounds one accept, not the serving).
SKIPPED = (PeerRejected, TransportTimeout)

#: ``SO_LINGER`` on, 0 seconds: close(2) drops unsent data and resets the connection (:apue:`16.6`).
_RESET = SO_LINGER.encode(Linger(0))


class Connection(Protocol):
    """What the bookkeeping needs of a served connection, on either face."""

    @property
    def raw_socket(self) -> socket.socket: ...

    @property
    def remote_address(self) -> Any: ...

    def close(self) -> None: ...


ConnT = TypeVar("ConnT", bound=Connection)


@attrs.frozen(kw_only=True)
class Served:
    """What one ``serve()`` did, returned once it stopped (:apue:`15.11`).

    ``cut`` holds the peer address of each connection still open at the
    grace deadline, in the order they were accepted: those were reset
    (``SO_LINGER`` 0) and, on the async face, their handlers cancelled.
    """

    #: Connections accepted and handed to a handler.
    accepted: int
    #: Handlers that raised before the stop began (each was reported).
    failed: int
    #: The peer address of every connection cut at the grace deadline (None if it had none).
    cut: tuple[Address | None, ...]

    @property
    def finished(self) -> int:
        """Handlers that ended on their own, failed ones included: all but the cut."""
        return self.accepted - len(self.cut)


# Documented, and found by name, at its public path: the one users import it from.
Served.__module__ = "transports"


def check_grace(value: float | None) -> float | None:
    """Validate serve()'s *grace*: None (wait for every handler) or seconds >= 0."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"serve: grace must be a number of seconds or None, got {value!r}")
    if math.isnan(value) or value < 0 or math.isinf(value):
        raise ValueError(
            f"serve: grace must be a finite number of seconds >= 0, got {value!r}; "
            "pass None to wait for every handler"
        )
    return float(value)


def check_max_connections(value: int | None) -> int | None:
    """Validate serve()'s *max_connections*: None (no limit) or an int >= 1."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"serve: max_connections must be an int or None, got {value!r}")
    if value < 1:
        raise ValueError(f"serve: max_connections must be at least 1, got {value}; pass None for no limit")
    return value


class Serving(Generic[ConnT]):
    """The bookkeeping of one ``serve()`` call: live connections, the stop, the cut (:apue:`15.11`).

    Every method is quick and takes :attr:`changed`'s lock, so handler
    threads, the serving thread and a ``close()`` from anywhere may call them.
    *wake* is called (under the lock) whenever the server may move on: a
    connection ended, or the stop began. *pid* is the process that serves:
    a forked child closing its copy of the listener must not shut down the
    parent's connections, which the child shares.
    """

    __slots__ = (
        "_cut",
        "_failed",
        "_max",
        "_wake",
        "accepted",
        "changed",
        "deadline",
        "grace",
        "live",
        "pid",
    )

    def __init__(
        self,
        grace: float | None,
        max_connections: int | None,
        pid: int,
        wake: Callable[[], None] | None = None,
    ) -> None:
        self.grace = check_grace(grace)
        self._max = check_max_connections(max_connections)
        self.pid = pid
        self._wake = wake
        #: Signalled whenever a connection ends or the stop begins.
        self.changed = threading.Condition(threading.Lock())
        #: Each connection being served, and its peer's address (read once, at accept).
        self.live: dict[ConnT, Address | None] = {}
        #: None while serving; once the stop began, when the grace ends.
        self.deadline: Deadline | None = None
        self.accepted = 0
        self._failed = 0
        self._cut: list[Address | None] = []

    @property
    def stopping(self) -> bool:
        """Whether the stop began: nothing more is accepted."""
        return self.deadline is not None

    @property
    def has_room(self) -> bool:
        """Whether another connection may be accepted now (the stop counts as room: the loop ends)."""
        return self.deadline is not None or self._max is None or len(self.live) < self._max

    def _notify(self) -> None:
        self.changed.notify_all()
        if self._wake is not None:
            self._wake()

    def add(self, conn: ConnT) -> bool:
        """Count *conn* as served; False once the stop began (close it unserved)."""
        try:
            remote = conn.remote_address
        except TransportError:
            remote = None  # the peer already left: the handler will find out
        with self.changed:
            if self.deadline is not None:
                return False
            self.live[conn] = remote
            self.accepted += 1
            return True

    def take(self, conn: ConnT) -> bool:
        """Serve *conn*, just accepted, unless the stop began: then close it unserved and return False."""
        if self.add(conn):
            return True
        conn.close()
        return False

    def left(self) -> float | None:
        """Seconds left of the grace (None: no limit, or the stop has not begun)."""
        deadline = self.deadline
        return None if deadline is None else deadline.left()

    def ended(self, conn: ConnT, exc: BaseException | None) -> bool:
        """*conn*'s handler ended (with *exc*): forget it; return whether *exc* is worth reporting.

        An error of the transport once the stop began is the stop's own doing
        (a woken receive, a cut connection), not the handler's failure.
        """
        with self.changed:
            self.live.pop(conn, None)
            report = exc is not None and not (self.deadline is not None and isinstance(exc, TransportError))
            if report:
                self._failed += 1
            self._notify()
            return report

    def stop(self) -> None:
        """Begin the stop, once: the grace starts now; idle handlers wake (their receive sees end of stream)."""
        with self.changed:
            if self.deadline is not None:
                return
            self.deadline = Deadline(self.grace)
            for conn in self.live:
                with contextlib.suppress(OSError):
                    conn.raw_socket.shutdown(socket.SHUT_RD)
            self._notify()

    def abandon(self) -> list[ConnT]:
        """serve() itself failed: stop with no grace; return the connections to close (an orderly end)."""
        with self.changed:
            if self.deadline is None:
                self.deadline = Deadline(0)
            self._notify()
            return list(self.live)

    def cut_rest(self) -> list[ConnT]:
        """At the grace deadline: make every connection still open reset on close, record it; return them.

        The caller then closes each (sync) or cancels its handler (async).
        """
        with self.changed:
            rest = list(self.live)
            for conn in rest:
                self._cut.append(self.live[conn])
                with contextlib.suppress(OSError):  # already closed by its handler: nothing to reset
                    conn.raw_socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
            return rest

    def result(self) -> Served:
        """What this serve() did."""
        with self.changed:
            return Served(accepted=self.accepted, failed=self._failed, cut=tuple(self._cut))
