"""Handing listening sockets to a successor, the part both faces share (:apue:`17.4`).

What the two sides return, the checks of what is offered and of the peer,
the release of the old process's objects, the adoption of the new one's:
everything here is quick and never waits, so :mod:`transports.handoff` and
:mod:`transports.aio.handoff` differ only in how they wait for the peer. The
messages themselves are in :mod:`transports._core.handoffmsg`.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

import attrs

from transports._core.deadline import Deadline
from transports._core.handoffmsg import (
    MAX_NAME,
    NETWORKS,
    Offered,
    close_sockets,
    failed_step,
    handoff_error,
)
from transports._core.listener import SocketListener, withdraw
from transports.credentials import Credentials
from transports.fdpass import MAX_FDS

__all__ = [
    "Handed",
    "Taken",
    "adopt_all",
    "allowed_set",
    "check_offered",
    "check_peer",
    "detach",
    "disown",
    "failure",
    "network_of",
    "release_async",
    "wait_left",
]

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class Handed:
    """What a completed ``hand_off`` did, seen from the process that gave its sockets away (:apue:`17.4`)."""

    #: The successor that took the sockets: its pid, uid and gid (``SO_PEERCRED``).
    successor: Credentials
    #: The names handed over, in the order offered.
    names: tuple[str, ...]
    #: Why each earlier successor failed (crashed, refused the offer, timed out) before this one took them.
    failed: tuple[str, ...]
    #: Seconds from the offer sent to the successor's READY.
    ready_after: float


@attrs.frozen(kw_only=True)
class Taken:
    """The sockets a successor took, by name, each adopted as its typed class (:apue:`17.4`).

    They are yours: close each (or this, which closes them all).
    """

    #: The process that gave them: its pid, uid and gid (``SO_PEERCRED``).
    predecessor: Credentials
    #: Each name and its adopted object (a listener or a datagram transport).
    objects: Mapping[str, Any]

    def get(self, name: str, cls: type[T]) -> T:
        """The object offered as *name*, checked to be a *cls* (:apue:`17.4`): ``taken.get("web", TCPListener)``."""
        try:
            found = self.objects[name]
        except KeyError:
            raise KeyError(
                f"Taken.get: nothing was handed over as {name!r}; the names are {sorted(self.objects)}"
            ) from None
        if not isinstance(found, cls):
            raise TypeError(
                f"Taken.get: {name!r} was handed over as a {type(found).__name__}, not a {cls.__name__}"
            )
        return found

    def close(self) -> None:
        """Close every object taken (:apue:`16.2`)."""
        for obj in self.objects.values():
            obj.close()

    def __enter__(self) -> Taken:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def failure(who: Credentials, where: str, exc: OSError | None, reason: str | None = None) -> str:
    """What ``Handed.failed`` records of a successor that failed before READY."""
    if exc is not None:
        return f"successor pid {who.pid}: {failed_step(where, 'waiting for READY', exc)}"
    return f"successor pid {who.pid} refused the offer: {reason}"


# Documented, and found by name, at their public path.
Handed.__module__ = Taken.__module__ = "transports.handoff"


def network_of(sock: socket.socket) -> str:
    """Which of the five kinds *sock* is ("tcp", "unix", "unixpacket", "udp", "unixgram"), or ValueError."""
    listening = bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
    for network, families, sock_type, wants_listening in NETWORKS.values():
        if sock.family in families and sock.type == sock_type and listening == wants_listening:
            return network
    state = "listening" if listening else "not listening"
    raise ValueError(
        f"a {sock.type.name} socket of {sock.family.name}, {state}, cannot be handed over: only TCP, "
        "Unix stream and Unix seqpacket listeners and UDP and Unix datagram sockets can"
    )


def _name_fits(name: object) -> bool:
    """Whether *name* (whatever a caller passed) is a non-empty str of at most MAX_NAME UTF-8 bytes."""
    return isinstance(name, str) and 0 < len(name.encode("utf-8")) <= MAX_NAME


def check_offered(objects: Mapping[str, Any], *, sync: bool) -> list[tuple[str, str, Any]]:
    """Check what a server offers; return (name, network, object) for each.

    Names are non-empty, at most :data:`MAX_NAME` UTF-8 bytes; at most
    ``MAX_FDS`` objects, each open and of one of the five kinds. On the sync
    face each datagram transport must have a timeout: its waits are then
    ``poll(2)`` calls that the release can end for this process alone (see
    :func:`detach`). A listener needs none: close() wakes its accept
    without touching the shared socket.
    """
    if not isinstance(objects, Mapping):
        raise TypeError(f"HandoffServer: objects must be a mapping of names to listeners, got {objects!r}")
    if not objects:
        raise ValueError("HandoffServer: nothing to hand over; pass {name: listener, ...}")
    if len(objects) > MAX_FDS:
        raise ValueError(f"HandoffServer: {len(objects)} sockets; one message carries at most {MAX_FDS}")
    found = []
    for name, obj in objects.items():
        if not _name_fits(name):
            raise ValueError(
                f"HandoffServer: each name must be a non-empty str of at most {MAX_NAME} UTF-8 bytes, got {name!r}"
            )
        sock = getattr(obj, "raw_socket", None)
        if not isinstance(sock, socket.socket) or sock.fileno() == -1:
            raise TypeError(
                f"HandoffServer: {name!r} is {obj!r}, not an open listener or datagram transport of ours"
            )
        network = network_of(sock)
        if sync and obj.timeout is None and not isinstance(obj, SocketListener):
            raise ValueError(
                f"HandoffServer: {name!r} ({obj!r}) has no timeout. A receive with none waits inside "
                "the kernel on the socket both processes share, and nothing can wake it for this "
                "process alone (shutdown would stop the successor's socket too): set its timeout "
                "(say 0.5 s) before receiving"
            )
        found.append((name, network, obj))
    return found


def check_peer(
    who: Credentials, allowed: frozenset[int], where: str, role: str, offered: Sequence[Offered] = ()
) -> None:
    """Refuse a peer whose uid is not in *allowed* (by default only our own user), closing what it *offered*."""
    if who.uid not in allowed:
        close_sockets(item.sock for item in offered)
        raise handoff_error(
            where,
            f"the {role} (pid {who.pid}) runs as uid {who.uid}; allowed uids: {sorted(allowed)}",
            errno.EPERM,
        )


def allowed_set(allowed_uids: Iterable[int] | None) -> frozenset[int]:
    """The uids that may be the peer: *allowed_uids*, or this process's effective uid."""
    if allowed_uids is None:
        return frozenset({os.geteuid()})
    if isinstance(allowed_uids, str | bytes):
        raise TypeError(f"allowed_uids must be a collection of ints, got {allowed_uids!r}")
    found = frozenset(allowed_uids)
    if not all(type(uid) is int for uid in found):
        raise TypeError(f"allowed_uids must be a collection of ints, got {sorted(map(repr, found))}")
    return found


def detach(obj: Any) -> None:
    """Release a sync object's socket for this process alone.

    A listener is withdrawn (:func:`~transports._core.listener.withdraw`):
    the same ``dup2`` as below, and a waiting ``accept`` woken through the
    listener's wake descriptor. A datagram transport cannot be closed while
    a receive waits on it in another thread: close() would wake the call
    with ``shutdown(2)``, which acts on the socket both processes share
    (a TCP listener stops, a Unix one refuses connections). Instead a new
    socket of the same family and type, never
    bound, takes the descriptor's number (``dup2``). A waiting ``poll(2)``
    wakes at its timeout or the next connection, finds the new socket, and
    ``accept`` fails with ``EINVAL``: ``serve()`` stops as if closed and
    drains. The object is closed later as usual, and never removes the Unix
    socket file, which the successor now serves.
    """
    disown(obj)
    if isinstance(obj, SocketListener):
        withdraw(obj)  # an accept waiting in poll(2) wakes through the wake descriptor
        return
    sock: socket.socket = obj.raw_socket
    with socket.socket(sock.family, sock.type) as dead:
        dead.setblocking(sock.gettimeout() is None)
        os.dup2(dead.fileno(), sock.fileno(), inheritable=False)


def release_async(obj: Any) -> None:
    """Release an async object for this process: ``close()`` (it never waits in the kernel), keeping its file."""
    disown(obj)
    obj.close()


def disown(obj: Any) -> None:
    """Make *obj* (a sync or an async object) never remove its Unix socket file: the successor serves it now."""
    give_up = getattr(obj, "disown", None)  # the objects that own a socket file have it
    if give_up is not None:
        give_up()


def adopt_all(offered: Sequence[Offered], adopt: Mapping[str, Any]) -> dict[str, Any]:
    """Adopt each offered socket with ``adopt[network]`` (a class's ``from_socket``); on failure close them all."""
    objects: dict[str, Any] = {}
    try:
        for item in offered:
            objects[item.name] = adopt[item.network](item.sock)
    except BaseException:
        for obj in objects.values():
            obj.close()
        close_sockets(item.sock for item in offered)
        raise
    return objects


def wait_left(deadline: Deadline) -> float | None:
    """The timeout for the next wait of an exchange: what is left (at least 1 ms, so that it waits, not polls)."""
    left = deadline.left()
    return None if left is None else max(left, 0.001)
