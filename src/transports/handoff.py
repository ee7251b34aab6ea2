"""Zero-downtime hand-off: a running server passes its listening sockets to its successor (:apue:`17.4`).

The old process offers its listeners at a control path
(:class:`HandoffServer`); the new one asks for them (:func:`take`) and gets
them in one message, the descriptors passed with ``SCM_RIGHTS`` and a small
header naming each, checked before anything is trusted. Both processes then
hold the same listening socket (the same open file description, the same
accept queue), so a connection that arrives meanwhile waits in the queue and
is accepted by whichever process accepts first: none is refused.

The handshake keeps the overlap safe: the successor checks what it got and
says READY; only then does the old process stop accepting (its ``serve()``
drains: running handlers finish, nothing new is accepted) and answer
RELEASED; only then does the successor adopt the sockets with
``from_socket``, which sets their blocking mode, a flag of the shared file
description that would otherwise change under the old process's feet. A
successor that fails before READY changes nothing: the old one serves on and
waits for the next. Only the same user may take the sockets (``SO_PEERCRED``,
or *allowed_uids*), and the control socket file is created 0600.
:mod:`transports.aio.handoff` is the async twin.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping
from typing import Self, TypeVar

import transports
from transports._core.handoff import Handed, Taken, detach
from transports._core.handoffmsg import HandoffError
from transports._core.handoffsteps import Driver, OfferBase, Steps, take_steps
from transports.errors import TransportError
from transports.tcp import TCPListener
from transports.udp import UDPTransport
from transports.unix import (
    UnixDatagramTransport,
    UnixListener,
    UnixSeqpacketListener,
)

__all__ = ["Handed", "HandoffError", "HandoffServer", "Offerable", "Taken", "take"]

T = TypeVar("T")

#: What a server can hand over: the three listeners and the two datagram transports.
Offerable = TCPListener | UnixListener | UnixSeqpacketListener | UDPTransport | UnixDatagramTransport


class HandoffServer(OfferBase):
    """Offer this server's listening sockets to a successor at a control path (:apue:`17.4`).

    Made with :meth:`listen`; :meth:`hand_off` waits for the successor.
    """

    __slots__ = ()

    @classmethod
    def listen(
        cls,
        path: str | os.PathLike[str],
        objects: Mapping[str, Offerable],
        *,
        allowed_uids: Collection[int] | None = None,
        mode: int = 0o600,
        step_timeout: float | None = 10.0,
        on_ready: Callable[[], object] | None = None,
    ) -> Self:
        """Offer *objects* (names to listeners and datagram transports) at the control path *path* (:apue:`17.4`).

        A listener is released for this process alone: its accept loop ends
        (``serve()`` drains) and the socket the successor now serves keeps
        listening. A datagram transport must have a timeout
        (``transport.timeout = 0.5``), and its receive loop is yours to stop
        in *on_ready*: a receive waits inside the kernel, where nothing can
        wake it for this process alone. The control socket, a
        Unix seqpacket listener at *path*, is made at once (file mode *mode*,
        0600 by default) and only users in *allowed_uids* (by default our
        own) may connect. *step_timeout* bounds each wait for a successor's
        reply. *on_ready*, if given, runs once a successor said READY, before
        the release (stop datagram receive loops there).
        """
        offered, allowed, step = cls._checked(objects, allowed_uids, step_timeout, sync=True)
        control = UnixSeqpacketListener.listen(path, mode=mode, allowed_uids=allowed)
        return cls(control, offered, step, on_ready)

    def hand_off(self, timeout: float | None = None) -> Handed:
        """Wait for a successor, give it the sockets, release them here (:apue:`17.4`).

        For each successor that connects: send the offer, wait (at most
        *step_timeout*) for READY; a successor that fails first (it crashed,
        refused the offer, timed out) is recorded in ``Handed.failed`` and the
        next one is awaited, with this server still serving. On READY the
        offered objects are released for this process (their ``serve()``
        loops end and drain; close them afterwards), RELEASED is sent and the
        control socket closed. Raises :class:`HandoffError` if no successor
        took them within *timeout* (None: wait as long as it takes) or if
        :meth:`close` was called meanwhile: nothing was released then.
        """
        return _drive(self._hand_off(timeout, detach))


def take(
    path: str | os.PathLike[str], *, timeout: float | None, allowed_uids: Collection[int] | None = None
) -> Taken:
    """Take the sockets a running server offers at *path*, each adopted as its typed class (:apue:`17.4`).

    Connects, checks that the offering process runs as one of
    *allowed_uids* (by default our own user), receives the offer, checks it
    (a malformed or oversized header, counts that disagree with what
    arrived, a descriptor of another kind than announced: refused, the old
    server told why, every descriptor closed), says READY, waits for
    RELEASED and only then adopts them (``from_socket``: listeners become
    blocking, with no timeout). *timeout* bounds the whole exchange. Every
    failure raises :class:`HandoffError`; nothing received is leaked.
    """
    return _drive(take_steps(path, timeout, allowed_uids, transports))


def _drive(steps: Steps[T]) -> T:
    """Run an exchange, making each of its calls here (they wait in this thread)."""
    driver = Driver(steps)
    try:
        while (call := driver.next()) is not None:
            try:
                driver.reply = call()
            except TransportError as exc:
                driver.error = exc
    finally:
        driver.close()
    return driver.result
