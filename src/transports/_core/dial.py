"""One connect over every address a name resolves to, on one budget (:apue:`16.4`; Go's ``partialDeadline``).

A TCP connect to a name tries each resolved address in turn, as
``connect_retry`` of APUE Fig. 16.11 tries again, and raises the last error.
The sync and async connects differ only in how one try waits (a blocking
``connect`` with a socket timeout, or ``loop.sock_connect`` under
:func:`asyncio.timeout`); :class:`Dial` is the rest, written once: which
address comes next, its share of the one :class:`~transports._core.deadline.Deadline`,
and the error that names the address that failed.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from transports._core.deadline import Deadline
from transports.addresses import InetAddress, inet_from_kernel
from transports.errors import TransportError, translate_os_error

__all__ = ["Attempt", "Dial"]


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

    Iterate for the tries; report each failed one with :meth:`failed`; when
    the iteration ends without a connection, raise :meth:`error`. A finite
    budget that runs out ends the iteration with a timeout error for the
    address that was next. *deadline* is the budget when it started before
    the lookup (as in Go, the lookup counts too).
    """

    __slots__ = ("_candidates", "_deadline", "_last", "_network", "_timeout")

    def __init__(
        self,
        candidates: Sequence[tuple[socket.AddressFamily, Any]],
        timeout: float | None,
        network: str,
        deadline: Deadline | None = None,
    ) -> None:
        self._candidates = candidates
        self._timeout = timeout
        self._network = network
        self._deadline = Deadline(timeout) if deadline is None else deadline
        self._last: TransportError | None = None

    def __iter__(self) -> Iterator[Attempt]:
        count = len(self._candidates)
        for index, (family, sockaddr) in enumerate(self._candidates):
            target = inet_from_kernel(sockaddr)  # a resolved address: checked once, kept
            share = self._deadline.share(count - index) if self._timeout else self._timeout
            host = sockaddr[0]  # the URL of target.url(), without its two frames
            where = (
                f"{self._network}://[{host}]:{sockaddr[1]}"
                if ":" in host
                else f"{self._network}://{host}:{sockaddr[1]}"
            )
            attempt = Attempt(family, sockaddr, target, where, share)
            if share == 0 and self._timeout:
                self.failed(attempt, TimeoutError("timed out"))
                return
            yield attempt

    def failed(self, attempt: Attempt, exc: OSError) -> None:
        """*attempt* failed with *exc*: keep it, translated, as the error to raise if no other try succeeds."""
        last = translate_os_error(
            exc,
            "connect to",
            attempt.where,
            timeout=self._timeout,
            network=self._network,
            remote=attempt.target,
        )
        last.__cause__ = exc
        self._last = last

    def error(self) -> TransportError:
        """The error of the last failed try, to raise when none connected."""
        assert self._last is not None, "Dial.error() before any try failed"
        return self._last
