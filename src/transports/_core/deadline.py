"""One time budget for an operation made of several calls (:apue:`14.4`).

``send_all``, ``recv_exactly``, ``sendfile``, a framed read, a connect that
tries several addresses: each is many system calls under one timeout. A
:class:`Deadline` is that timeout turned into a point in time, on the
monotonic clock, as Go's ``net`` package does with its deadlines. Before each
later call it says how long is left and, where the call itself would not
wait (a non-blocking socket), waits for readiness with ``poll(2)`` for at
most that long.

It never changes a socket's own timeout: another thread using the same
socket in the other direction keeps the timeout it set, and a ``close()``
from a third thread is not undone by a timeout restored afterwards. The
async face uses the same object and waits on its event loop instead.
"""

from __future__ import annotations

import errno
import select
import time
from typing import Protocol

#: Go's ``net.Dialer`` gives each address at least this much of what is left.
_SANE_MINIMUM = 2.0


class _HasFileno(Protocol):
    def fileno(self) -> int: ...


class Deadline:
    """The point in time by which an operation must be done; ``None`` timeout: no limit.

    *timeout* is the operation's budget in seconds (``None`` for none, ``0``
    for "never wait"); the clock starts at *start* (a ``time.monotonic()``
    value) or now.
    """

    __slots__ = ("at", "timeout")

    def __init__(self, timeout: float | None, *, start: float | None = None) -> None:
        self.timeout = timeout
        self.at = None if timeout is None else (time.monotonic() if start is None else start) + timeout

    def left(self) -> float | None:
        """Seconds left, never below 0; ``None`` when there is no limit."""
        if self.at is None:
            return None
        return max(self.at - time.monotonic(), 0.0)

    @property
    def expired(self) -> bool:
        """Whether the budget is spent (never, without a limit)."""
        return self.at is not None and time.monotonic() >= self.at

    def wait(self, target: int | _HasFileno, *, writing: bool) -> None:
        """Wait until *target* is ready to read (or write), within what is left.

        Raises :class:`TimeoutError` once the budget is spent, and
        :class:`BlockingIOError` at once for a budget of 0 (non-blocking:
        waiting is not allowed). Without a limit it waits as long as it takes.
        """
        if self.timeout == 0:
            raise BlockingIOError(errno.EAGAIN, "the socket is non-blocking (timeout 0)")
        left = self.left()
        if left == 0:
            raise TimeoutError("timed out")
        poller = select.poll()
        poller.register(target, select.POLLOUT if writing else select.POLLIN)
        if not poller.poll(None if left is None else max(left * 1000.0, 1.0)):
            raise TimeoutError("timed out")

    def before_next_call(self, target: int | _HasFileno, *, writing: bool) -> None:
        """Before a later call of the operation on a socket with this timeout.

        A blocking socket (no limit) or a non-blocking one (0) needs no wait:
        the call itself blocks or fails at once. Under a finite timeout,
        Python's socket would wait its whole timeout again before the call:
        wait here for what is left instead, or time out.
        """
        if self.timeout:
            self.wait(target, writing=writing)

    def share(self, attempts: int) -> float | None:
        """The time for the next of *attempts* tries at one operation (Go's ``partialDeadline``).

        A connect to a name with several addresses spends one budget on all
        of them: each try gets an equal share of what is left, but at least
        two seconds of it (a slow first address must not starve), and never
        more than is left. ``None`` without a limit; 0 once it is spent.
        """
        left = self.left()
        if left is None or attempts <= 1:
            return left
        return min(left, max(left / attempts, _SANE_MINIMUM))
