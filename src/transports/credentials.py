"""Who is at the other end of a Unix-domain socket: a value type (:apue:`17.3`).

It sits on the lowest floor with the other value types, so that errors
(:class:`~transports.PeerRejected`) and fd passing can both name it.
:mod:`transports.fdpass` re-exports it, and that stays its documented home.
"""

from __future__ import annotations

import attrs

__all__ = ["Credentials"]


@attrs.frozen
class Credentials:
    """Who is at the other end of a Unix socket: process id, user id, group id (:apue:`17.3`).

    The kernel records them when the peer connected (or made the
    socketpair), so they cannot be forged by the peer.
    """

    pid: int
    uid: int
    gid: int
