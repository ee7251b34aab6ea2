"""The two hand-off exchanges, written once for both faces (:apue:`17.4`, :apue:`16.8`).

Each exchange is a generator that makes every decision and yields only the
calls that wait, as :func:`functools.partial` objects naming a method that
both faces have under the same name and signature (``accept``,
``send_fds``, ``send``, ``recv``, ``recv_fds``, ``connect``): the sync face
calls them, the async face awaits them, each with a :class:`Driver` that
throws a call's :class:`~transports.TransportError` back into the exchange.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Collection, Generator, Mapping
from types import ModuleType
from typing import Any, Generic, Self, TypeVar

from transports._core.deadline import Deadline
from transports._core.handoff import (
    Handed,
    Taken,
    adopt_all,
    allowed_set,
    check_offered,
    check_peer,
    failure,
    wait_left,
)
from transports._core.handoffmsg import (
    MAX_MESSAGE,
    MAX_REPLY,
    READY,
    RELEASED,
    HandoffError,
    close_sockets,
    encode,
    encode_offer,
    failed_step,
    handoff_error,
    parse_offer,
    parse_reply,
    refuse,
)
from transports._core.validate import check_timeout
from transports.credentials import Credentials
from transports.errors import PeerRejected, TransportClosed, TransportError, TransportTimeout
from transports.fdpass import MAX_FDS

__all__ = ["CLASS_NAMES", "Driver", "OfferBase", "Steps", "take_steps"]

T = TypeVar("T")
#: An exchange: yields the calls that wait, receives their results, returns its outcome.
Steps = Generator["functools.partial[Any]", Any, T]


class Driver(Generic[T]):
    """Runs an exchange for one face: ``while (call := driver.next()) is not None:`` make the call.

    Store the call's result in :attr:`reply`, or its TransportError in
    :attr:`error` (it is raised inside the exchange, which decides); once
    :meth:`next` returns None, :attr:`result` is the outcome. Always
    :meth:`close` it (a ``finally``): an exchange left half-way closes what it received.
    """

    __slots__ = ("_steps", "error", "reply", "result")

    def __init__(self, steps: Steps[T]) -> None:
        self._steps = steps
        self.reply: Any = None
        self.error: TransportError | None = None
        self.result: T

    def next(self) -> functools.partial[Any] | None:
        """The next call to make, or None when the exchange ended (see :attr:`result`)."""
        reply, error = self.reply, self.error
        self.reply, self.error = None, None
        try:
            return self._steps.throw(error) if error is not None else self._steps.send(reply)
        except StopIteration as done:
            self.result = done.value
            return None

    def close(self) -> None:
        self._steps.close()


class OfferBase:
    """What the two faces' ``HandoffServer`` share: the control socket, the checks, the exchange (:apue:`17.4`).

    *control* is a seqpacket listener of either face. ``hand_off`` is each
    face's :meth:`_hand_off` run by its driver, with its way to release an
    object (a sync one by ``detach``, an async one by closing it).
    """

    __slots__ = ("_control", "_offered", "_on_ready", "_step", "path")

    def __init__(
        self,
        control: Any,
        offered: list[tuple[str, str, Any]],
        step_timeout: float | None,
        on_ready: Callable[[], object] | None,
    ) -> None:
        self._control = control
        self._offered = offered
        self._step = step_timeout
        self._on_ready = on_ready
        #: The control socket's path, where the successor calls ``take``.
        self.path: str = control.address.path

    @staticmethod
    def _checked(
        objects: Mapping[str, Any],
        allowed_uids: Collection[int] | None,
        step_timeout: float | None,
        *,
        sync: bool,
    ) -> tuple[list[tuple[str, str, Any]], frozenset[int], float | None]:
        """``listen``'s arguments checked before the control socket is made."""
        return check_offered(objects, sync=sync), allowed_set(allowed_uids), check_timeout(step_timeout)

    def _hand_off(self, timeout: float | None, release: Callable[[Any], None]) -> Steps[Handed]:
        """The old process's side: offer to each successor in turn until one took the sockets."""
        deadline = Deadline(check_timeout(timeout))
        failed: list[str] = []
        while True:
            try:
                self._control.timeout = wait_left(deadline)
                conn = yield functools.partial(self._control.accept)
            except PeerRejected as exc:
                failed.append(str(exc))
                continue
            except (TransportClosed, TransportTimeout) as exc:
                if isinstance(exc, TimeoutError):
                    what = f"no successor took the sockets within {timeout} s"
                else:
                    what = "the HandoffServer was closed while waiting for a successor"
                raise handoff_error(
                    self.path,
                    f"{what}; nothing was released, this server still serves its sockets",
                    exc.errno,
                ) from exc
            try:
                outcome = yield from self._offer_to(conn, release)
            finally:
                conn.close()
            if isinstance(outcome, str):
                failed.append(outcome)
                continue
            who, ready_after = outcome
            self.close()
            names = tuple(name for name, _, _ in self._offered)
            return Handed(successor=who, names=names, failed=tuple(failed), ready_after=ready_after)

    def _offer_to(self, conn: Any, release: Callable[[Any], None]) -> Steps[tuple[Credentials, float] | str]:
        """One successor: (its credentials, seconds to READY) once released, or why it failed (nothing released)."""
        who: Credentials = conn.peer_credentials()
        conn.timeout = self._step
        started = time.monotonic()
        message = encode_offer([(name, network) for name, network, _ in self._offered])
        try:
            yield functools.partial(conn.send_fds, message, [obj for _, _, obj in self._offered])
            reason = parse_reply((yield functools.partial(conn.recv, MAX_REPLY)), self.path, READY)
        except TransportError as exc:
            return failure(who, self.path, exc)
        if reason is not None:
            return failure(who, self.path, None, reason)
        ready_after = time.monotonic() - started
        if self._on_ready is not None:
            self._on_ready()
        for _, _, obj in self._offered:
            release(obj)
        try:
            yield functools.partial(conn.send, encode(RELEASED))
        except TransportError as exc:
            raise failed_step(
                self.path,
                f"successor pid {who.pid} went away after READY, before RELEASED reached it "
                "(the sockets were released here and nobody serves them now)",
                exc,
            ) from exc
        return who, ready_after

    def close(self) -> None:
        """Stop offering: close the control socket and remove its file (:apue:`17.3`)."""
        self._control.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


#: The class each network is adopted as: the same names on both faces.
CLASS_NAMES = {
    "tcp": "TCPListener",
    "unix": "UnixListener",
    "unixpacket": "UnixSeqpacketListener",
    "udp": "UDPTransport",
    "unixgram": "UnixDatagramTransport",
}


def take_steps(
    path: str | os.PathLike[str],
    timeout: float | None,
    allowed_uids: Collection[int] | None,
    face: ModuleType,
) -> Steps[Taken]:
    """The successor's side, with the classes of *face* (``transports`` or ``transports.aio``): connect, check, adopt."""
    deadline = Deadline(check_timeout(timeout))
    allowed = allowed_set(allowed_uids)
    where = os.fspath(path)
    try:
        conn = yield functools.partial(face.UnixSeqpacketTransport.connect, path, timeout=wait_left(deadline))
    except TransportError as exc:
        raise failed_step(where, "no server offers sockets here (start its hand_off first)", exc) from exc
    try:
        who: Credentials = conn.peer_credentials()
        try:
            conn.timeout = wait_left(deadline)
            offered = parse_offer((yield functools.partial(conn.recv_fds, MAX_MESSAGE + 1, MAX_FDS)), where)
            # Checked once the offer is in (bounded, and closed if refused): the old one then hears why.
            check_peer(who, allowed, where, "offering process", offered)
        except HandoffError as exc:
            refuse(conn.raw_socket, exc)
            raise
        except TransportError as exc:
            refuse(conn.raw_socket, exc)
            raise failed_step(where, "waiting for the offer", exc) from exc
        try:
            yield functools.partial(conn.send, encode(READY))
            conn.timeout = wait_left(deadline)
            reason = parse_reply((yield functools.partial(conn.recv, MAX_REPLY)), where, RELEASED)
            if reason is not None:
                raise HandoffError(
                    f"hand-off at {where}: the offering process refused: {reason}", address=where
                )
        except BaseException as exc:
            close_sockets(item.sock for item in offered)
            if isinstance(exc, TransportError) and not isinstance(exc, HandoffError):
                raise failed_step(where, "waiting for RELEASED", exc) from exc
            raise
        adopt = {network: getattr(face, name).from_socket for network, name in CLASS_NAMES.items()}
        return Taken(predecessor=who, objects=adopt_all(offered, adopt))
    finally:
        conn.close()
