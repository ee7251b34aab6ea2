"""One connect over every address a name resolves to, on one budget (:apue:`16.4`; Go's ``partialDeadline``; RFC 8305).

A TCP connect to a name tries the resolved addresses. By default it races
them as RFC 8305 ("Happy Eyeballs") asks: the addresses interleaved by
family (:func:`interleave`), a new attempt started every *delay* seconds or
as soon as the one before fails, the first to connect kept. With no delay
it tries each in turn, as ``connect_retry`` of APUE Fig. 16.11 tries again.
The sync and async connects differ only in how they wait (``poll(2)`` on
non-blocking sockets, or ``loop.sock_connect``); the rest is written once
here: :class:`Dial` (which address comes next, its share of the one
:class:`~transports._core.deadline.Deadline`, the error naming every address
that failed) and :class:`Race` (when the next attempt of a race starts).
"""

from __future__ import annotations

import math
import socket
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from itertools import zip_longest
from typing import Any, NamedTuple

from transports._core.deadline import Deadline
from transports._core.owner import new_socket
from transports._errtext import SOCKET_HINTS, reason
from transports.addresses import InetAddress, inet_from_kernel
from transports.errors import TransportError, translate_os_error
from transports.kinds import Kind
from transports.options import OptionSetting

__all__ = ["Attempt", "Dial", "Race", "check_delay", "interleave"]

#: RFC 8305's recommended "Connection Attempt Delay", in seconds.
DEFAULT_DELAY = 0.25
#: A delay longer than this is almost surely a mistake for milliseconds; RFC 8305 caps it at 2 s.
_MAX_DELAY = 60.0

Candidate = tuple[socket.AddressFamily, Any]


def check_delay(value: float | None) -> float | None:
    """Validate ``happy_eyeballs_delay``: ``None`` (try in turn) or seconds between attempts, 0..60."""
    if value is None or (value.__class__ is float and 0.0 <= value <= _MAX_DELAY):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"happy_eyeballs_delay must be a number of seconds or None, got {value!r}")
    if math.isnan(value) or not 0 <= value <= _MAX_DELAY:
        raise ValueError(
            f"happy_eyeballs_delay must be between 0 and {_MAX_DELAY:g} seconds (RFC 8305 suggests "
            f"{DEFAULT_DELAY:g}), or None to try the addresses one after the other; got {value!r}"
        )
    return float(value)


def interleave(candidates: Sequence[Candidate]) -> list[Candidate]:
    """The order of a race (RFC 8305 section 4): the first family's first address, then the other's, alternating.

    The first family is the one ``getaddrinfo`` put first (the system's
    preference, RFC 6724); within each family the resolver's order is kept.
    """
    first = candidates[0][0]
    mine = [c for c in candidates if c[0] == first]
    others = [c for c in candidates if c[0] != first]
    return [c for pair in zip_longest(mine, others) for c in pair if c is not None]


class Attempt(NamedTuple):
    """One try of a connect: the address, how it is named in errors, and the seconds it may take."""

    family: socket.AddressFamily
    sockaddr: Any
    target: InetAddress
    where: str
    #: This try's share of the budget: ``None`` without a limit, ``0`` for a connect that never waits.
    timeout: float | None


class Dial:
    """The tries of one connect to the resolved *candidates*, sharing *timeout* (:apue:`16.4`).

    Iterate for the tries one after the other, or hand the dial to a
    :class:`Race`; report each failed one with :meth:`failed`; when no try
    connected, raise :meth:`error`. A finite budget that runs out ends the
    iteration with a timeout error for the address that was next. *deadline*
    is the budget when it started before the lookup (as in Go, the lookup
    counts too); *name* is the host and port as the caller gave them, for the error.
    """

    __slots__ = ("_candidates", "_deadline", "_failures", "_name", "_network", "_timeout")

    def __init__(
        self,
        candidates: Sequence[Candidate],
        timeout: float | None,
        network: str,
        deadline: Deadline | None = None,
        *,
        name: tuple[str, int] | None = None,
    ) -> None:
        self._candidates = candidates
        self._timeout = timeout
        self._network = network
        self._deadline = Deadline(timeout) if deadline is None else deadline
        self._name = name
        self._failures: list[tuple[Attempt, OSError]] = []

    def attempt(self, family: socket.AddressFamily, sockaddr: Any, share: float | None) -> Attempt:
        """The :class:`Attempt` at *sockaddr*, with *share* seconds of the budget."""
        target = inet_from_kernel(sockaddr)  # a resolved address: checked once, kept
        host = sockaddr[0]  # the URL of target.url(), without its two frames
        where = (
            f"{self._network}://[{host}]:{sockaddr[1]}"
            if ":" in host
            else f"{self._network}://{host}:{sockaddr[1]}"
        )
        return Attempt(family, sockaddr, target, where, share)

    def __iter__(self) -> Iterator[Attempt]:
        count = len(self._candidates)
        for index, (family, sockaddr) in enumerate(self._candidates):
            share = self._deadline.share(count - index) if self._timeout else self._timeout
            attempt = self.attempt(family, sockaddr, share)
            if share == 0 and self._timeout:
                self.failed(attempt, TimeoutError("timed out"))
                return
            yield attempt

    def failed(self, attempt: Attempt, exc: OSError) -> None:
        """*attempt* failed with *exc*: keep it for the error to raise if no other try succeeds."""
        self._failures.append((attempt, exc))

    def _translated(self, attempt: Attempt, exc: OSError) -> TransportError:
        error = translate_os_error(
            exc,
            "connect to",
            attempt.where,
            timeout=self._timeout,
            network=self._network,
            remote=attempt.target,
        )
        if error is not exc:
            error.__cause__ = exc
        return error

    def error(self) -> TransportError:
        """The error to raise when no try connected: one address's own, or one naming every address.

        With several addresses, the error has the class and ``errno`` of
        the last (a timeout when the budget ran out), its message names each
        address with its reason, and its ``__cause__`` is an
        :class:`ExceptionGroup` of each address's error.
        """
        assert self._failures, "Dial.error() before any try failed"
        errors = [self._translated(attempt, exc) for attempt, exc in self._failures]
        untried = len(self._candidates) - len(errors)
        if len(errors) == 1 and not untried:
            return errors[0]
        last = errors[-1]
        name = None if self._name is None else InetAddress(*self._name)
        where = name.url(self._network) if name is not None else "each address"
        tried = "; ".join(f"{a.where} {self._why(exc)}" for a, exc in self._failures)
        hints: list[str] = []
        for _, exc in self._failures:
            hint = SOCKET_HINTS.get(exc.errno or 0) or (
                "raise the timeout or check the peer" if exc.errno is None else ""
            )
            if hint and hint not in hints:
                hints.append(hint)
        more = f" ({untried} more not tried: the timeout ran out)" if untried > 0 else ""
        advice = "".join(f" {h[:1].upper()}{h[1:]}{'' if h.endswith('?') else '.'}" for h in hints)
        message = f"connect to {where}: every address tried failed{more}: {tried}.{advice}"
        # Connect errors (refused, reset, timed out ...) take the base constructor; anything else is plain.
        cls = type(last) if type(last).__init__ is TransportError.__init__ else TransportError
        error = cls(
            message,
            errno=last.errno,
            op="connect",
            address=where,
            network=self._network,
            remote=name if name is not None else last.remote,
        )
        error.__cause__ = ExceptionGroup(f"connect to {where}: the error of each address", errors)
        return error

    def _why(self, exc: OSError) -> str:
        if exc.errno is None and isinstance(exc, TimeoutError):
            return "timed out" + (f" (timeout of {self._timeout:g} s)" if self._timeout is not None else "")
        if isinstance(exc, TransportError):
            return f"failed: {exc}"
        return reason(exc.errno, None, str(exc))  # the C text: asyncio puts the address in strerror


class Race:
    """When each attempt of a Happy Eyeballs connect starts (RFC 8305 section 5), for both faces.

    The attempts go in :func:`interleave` order. :meth:`due` hands out the
    next one when *delay* seconds have passed since the last start, or at
    once when none is running (the last one failed); :meth:`open` makes its
    non-blocking socket. The face starts the connect, waits at most
    :meth:`wait` seconds for an outcome, and reports a failure with
    :meth:`failed`; the first attempt to connect wins and the face closes the others.
    """

    __slots__ = ("_next_at", "_queue", "delay", "dial", "running", "settings", "source")

    def __init__(
        self,
        dial: Dial,
        delay: float,
        settings: Iterable[OptionSetting[Any]] = (),
        source: InetAddress | None = None,
    ) -> None:
        self.dial = dial
        self.delay = delay
        self.settings = tuple(settings)
        self.source = source
        self._queue = deque(interleave(dial._candidates))
        self._next_at = 0.0
        #: How many attempts are under way (started, neither failed nor won).
        self.running = 0

    def due(self) -> Attempt | None:
        """The attempt to start now, or ``None`` (the delay has not passed, or none is left).

        Once the budget is spent nothing more starts: the next address is
        recorded as timed out, and the rest as not tried.
        """
        if not self._queue or (self.running and time.monotonic() < self._next_at):
            return None
        family, sockaddr = self._queue.popleft()
        attempt = self.dial.attempt(family, sockaddr, self.dial._deadline.left())
        if self.expired:
            self.dial.failed(attempt, TimeoutError("timed out"))
            self._queue.clear()
            return None
        self.running += 1
        self._next_at = time.monotonic() + self.delay
        return attempt

    def starting(self) -> Iterator[tuple[socket.socket, Attempt]]:
        """The attempts due now, each with its socket to connect (one whose socket failed is recorded and skipped)."""
        attempt = self.due()
        while attempt is not None:
            sock = self.open(attempt)
            if sock is not None:
                yield sock, attempt
            attempt = self.due()

    def open(self, attempt: Attempt) -> socket.socket | None:
        """A non-blocking socket for *attempt*, bound to the source; ``None`` (and the attempt failed) if that fails."""
        try:
            sock = new_socket(attempt.family, Kind.STREAM, self.settings, attempt.where, 0)
        except OSError as exc:  # e.g. no IPv6 on this host: that address fails, the others may not
            self.failed(attempt, exc)
            return None
        try:
            if self.source is not None:
                sock.bind(self.source.to_sockaddr())
        except OSError as exc:
            sock.close()
            self.failed(attempt, exc)
            return None
        except BaseException:
            sock.close()
            raise
        return sock

    def wait(self) -> float | None:
        """How long the face may wait for an outcome: until the next start is due or the budget ends."""
        left = self.dial._deadline.left()
        if not self._queue:
            return left
        until = max(self._next_at - time.monotonic(), 0.0)
        return until if left is None else min(until, left)

    @property
    def expired(self) -> bool:
        """Whether the one budget of the connect is spent."""
        return bool(self.dial._timeout) and self.dial._deadline.expired

    def failed(self, attempt: Attempt, exc: OSError) -> None:
        """*attempt* failed with *exc*: the next one is due at once."""
        self.running -= 1
        self._next_at = 0.0
        self.dial.failed(attempt, exc)

    def timed_out(self, attempts: Iterable[Attempt]) -> TransportError:
        """The budget ran out with *attempts* still under way: the error to raise."""
        for attempt in attempts:
            self.failed(attempt, TimeoutError("timed out"))
        return self.dial.error()
