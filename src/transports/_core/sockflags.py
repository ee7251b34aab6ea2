"""The ``MSG_*`` bits every send and receive passes, as plain ints (:apue:`16.5`).

A flag this platform lacks is 0, so ``bits | NOSIGNAL`` and ``bits & DONTWAIT``
need no test. Plain ints, not :class:`~transports.SendFlags`: the hot
paths pass them straight to the socket module.
"""

from __future__ import annotations

import socket
import sys

NOSIGNAL = int(getattr(socket, "MSG_NOSIGNAL", 0))
DONTWAIT = int(getattr(socket, "MSG_DONTWAIT", 0))
WAITALL = int(getattr(socket, "MSG_WAITALL", 0))
PEEK = int(socket.MSG_PEEK)
_LINUX = sys.platform.startswith("linux")
# On Linux, MSG_TRUNC passed to a datagram receive makes it return the
# message's real size, so a truncation can say how much was lost.
TRUNC_IN = int(socket.MSG_TRUNC) if _LINUX else 0
TRUNC_OUT = int(getattr(socket, "MSG_TRUNC", 0))


def _sized_receives() -> bool:
    """Whether ``recv(n, MSG_TRUNC)`` and ``recvfrom`` return a message's real length on this Python.

    Linux returns the real size of a datagram when ``MSG_TRUNC`` is passed
    in; CPython sizes its result to that count (the bytes past *n* are
    not the message's and are cut off by the caller). Asked once, on a
    socketpair: a Python that clamps the result instead makes the receive
    paths use ``recv_into``, so a cut is never missed.
    """
    if not TRUNC_IN:
        return False
    try:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    except (OSError, AttributeError):  # pragma: no cover - a sandbox without socketpair
        return False
    with a, b:
        try:
            a.send(b"ab")
            a.send(b"ab")
            plain = b.recv(1, TRUNC_IN | DONTWAIT)
            addressed, _ = b.recvfrom(1, TRUNC_IN | DONTWAIT)
        except OSError:  # pragma: no cover - refused: take the portable path
            return False
    return len(plain) == len(addressed) == 2 and plain[:1] == addressed[:1] == b"a"


#: Whether the hot receive paths may take a message's real size from ``len()`` of ``recv(n, MSG_TRUNC)``.
SIZED_RECV = _sized_receives()
