"""Zero-downtime hand-off of listening sockets, async face (:apue:`17.4`, :apue:`16.8`, :apue:`14.4`).

The twin of :mod:`transports.handoff`: the same messages, checks, results
and errors (all shared), awaited on the event loop. The sockets taken are
adopted as :mod:`transports.aio` objects (non-blocking, the loop waits). The
release differs in one way: an async object never waits inside the kernel,
so releasing it is a plain ``close()`` (the loop forgets the descriptor
first; no ``shutdown`` of the shared socket), which also stops its
``serve()``: running handlers finish, nothing new is accepted.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping
from typing import Self, TypeVar

from transports import aio
from transports._core.handoff import Handed, Taken, release_async
from transports._core.handoffmsg import HandoffError
from transports._core.handoffsteps import Driver, OfferBase, Steps, take_steps
from transports.aio.tcp import TCPListener
from transports.aio.udp import UDPTransport
from transports.aio.unix import (
    UnixDatagramTransport,
    UnixListener,
    UnixSeqpacketListener,
)
from transports.errors import TransportError

__all__ = ["Handed", "HandoffError", "HandoffServer", "Offerable", "Taken", "take"]

T = TypeVar("T")

#: What a server can hand over: the three async listeners and the two async datagram transports.
Offerable = TCPListener | UnixListener | UnixSeqpacketListener | UDPTransport | UnixDatagramTransport


class HandoffServer(OfferBase):
    """Offer this server's async listeners to a successor at a control path (:apue:`17.4`, :apue:`16.8`, :apue:`14.4`).

    The twin of :class:`transports.handoff.HandoffServer`, made with
    ``await HandoffServer.listen(...)``.
    """

    __slots__ = ()

    @classmethod
    async def listen(
        cls,
        path: str | os.PathLike[str],
        objects: Mapping[str, Offerable],
        *,
        allowed_uids: Collection[int] | None = None,
        mode: int = 0o600,
        step_timeout: float | None = 10.0,
        on_ready: Callable[[], object] | None = None,
    ) -> Self:
        """Offer *objects* at the control path *path* (:apue:`17.4`, :apue:`16.8`).

        As the sync ``listen``, except that the objects need no timeout.
        """
        offered, allowed, step = cls._checked(objects, allowed_uids, step_timeout, sync=False)
        control = await UnixSeqpacketListener.listen(path, mode=mode, allowed_uids=allowed)
        return cls(control, offered, step, on_ready)

    async def hand_off(self, timeout: float | None = None) -> Handed:
        """Wait for a successor, give it the sockets, release them here (:apue:`17.4`, :apue:`16.8`, :apue:`14.4`).

        As the sync ``hand_off``; the release closes the offered objects
        (their ``serve()`` stops and drains), never removing a Unix socket
        file the successor now serves.
        """
        return await _drive(self._hand_off(timeout, release_async))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()


async def take(
    path: str | os.PathLike[str], *, timeout: float | None, allowed_uids: Collection[int] | None = None
) -> Taken:
    """Take the sockets a running server offers at *path*, adopted as :mod:`transports.aio` objects (:apue:`17.4`, :apue:`16.8`, :apue:`14.4`).

    The twin of :func:`transports.handoff.take`: the same checks, the same
    :class:`~transports.handoff.HandoffError` on every failure, nothing received leaked.
    """
    return await _drive(take_steps(path, timeout, allowed_uids, aio))


async def _drive(steps: Steps[T]) -> T:
    """Run an exchange, awaiting each of its calls on the loop."""
    driver = Driver(steps)
    try:
        while (call := driver.next()) is not None:
            try:
                driver.reply = await call()
            except TransportError as exc:
                driver.error = exc
    finally:
        driver.close()
    return driver.result
