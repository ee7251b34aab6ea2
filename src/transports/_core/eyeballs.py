"""Happy Eyeballs on one thread: a race of non-blocking connects under ``poll(2)`` (:apue:`16.4`, :apue:`16.8`, :apue:`14.4`).

The sync face of RFC 8305. Each attempt is a non-blocking socket whose
``connect`` returns ``EINPROGRESS`` at once; one ``poll`` waits for any of
them to become writable, or for the next attempt to be due, or for the
budget to end; ``SO_ERROR`` then says how each finished connect went, as
a non-blocking connect is completed (:apue:`16.8`). No thread per attempt.
:class:`~transports._core.dial.Race` decides when each attempt starts; the
async face waits on its event loop instead.
"""

from __future__ import annotations

import errno
import math
import os
import select
import socket

from transports._core.dial import Attempt, Race

__all__ = ["connect_first"]


def _finished(sock: socket.socket) -> OSError | None:
    """How a non-blocking connect that ``poll`` reported ended: ``None`` if connected."""
    code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    return None if code == 0 else OSError(code, os.strerror(code))


def connect_first(race: Race, timeout: float | None) -> tuple[socket.socket, Attempt]:
    """Race the attempts of *race*; the connected socket of the first to succeed, with *timeout* set.

    The other attempts' sockets are closed before it returns (or raises);
    when none connects, the error names every address tried.
    """
    poller = select.poll()
    running: dict[int, tuple[socket.socket, Attempt]] = {}
    try:
        while True:
            for sock, attempt in race.starting():
                try:
                    code = sock.connect_ex(attempt.sockaddr)
                except BaseException:
                    sock.close()
                    raise
                if code == 0:  # loopback may connect at once
                    sock.settimeout(timeout)
                    return sock, attempt
                if code == errno.EINPROGRESS:  # (EAGAIN from a TCP connect: no local port left, a failure)
                    running[sock.fileno()] = (sock, attempt)
                    poller.register(sock, select.POLLOUT)
                else:
                    sock.close()
                    race.failed(attempt, OSError(code, os.strerror(code)))
            if not running:
                raise race.dial.error()
            wait = race.wait()
            for fd, _ in poller.poll(None if wait is None else math.ceil(wait * 1000.0)):
                sock, attempt = running.pop(fd)
                poller.unregister(fd)
                failure = _finished(sock)
                if failure is None:
                    sock.settimeout(timeout)
                    return sock, attempt
                sock.close()
                race.failed(attempt, failure)
            if race.expired and running:
                raise race.timed_out(a for _, a in running.values())
    finally:
        for sock, _ in running.values():
            sock.close()
