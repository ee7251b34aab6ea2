"""Who is at the other end of a Unix-domain socket: a value type (:apue:`17.3`).

It sits on the lowest floor with the other value types, so that errors
(:class:`~transports.PeerRejected`) and fd passing can both name it.
:mod:`transports.fdpass` re-exports it, and that stays its documented home.
"""

from __future__ import annotations

import attrs

from transports.pidfd import PidFd

__all__ = ["Credentials"]


@attrs.frozen
class Credentials:
    """Who is at the other end of a Unix socket: process id, user id, group id (:apue:`17.3`).

    The kernel records them when the peer connected (or made the
    socketpair), or, for a datagram, when it was sent (``SCM_CREDENTIALS``),
    so they cannot be forged by the peer.

    ``pidfd`` is set only when asked for (``peer_credentials(pidfd=True)``):
    a :class:`~transports.pidfd.PidFd` that refers to the peer process itself,
    which its pid alone cannot do once the process is gone and the number
    reused. It is yours to close. It takes no part in equality or hashing:
    two Credentials are equal when pid, uid and gid are.
    """

    pid: int
    uid: int
    gid: int
    pidfd: PidFd | None = attrs.field(default=None, eq=False, kw_only=True)
