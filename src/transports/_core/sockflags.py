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
