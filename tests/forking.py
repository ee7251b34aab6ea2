"""Running a function in a forked child, and waiting for it with a deadline (APUE 8.3 fork).

The child runs one function and leaves with ``os._exit``: 0 when it
returned, 1 when it raised (the traceback goes to stderr). The parent
waits on a pidfd with ``select``: an event, never a sleep, and a child that
does not finish in time is killed and reported.
"""

from __future__ import annotations

import os
import select
import sys
import traceback
import warnings
from collections.abc import Callable

#: Whether this platform can run these helpers.
CAN_FORK = hasattr(os, "fork") and hasattr(os, "pidfd_open")


def fork_child(child: Callable[[], None]) -> int:
    """Run *child* in a forked process; return its pid."""
    with warnings.catch_warnings():
        # 3.12+ warns about forking with threads running; the tests do it on purpose.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            child()
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stderr.flush()
            os._exit(code)
    return pid


def wait_child(pid: int, timeout: float) -> int:
    """Wait for child *pid* with a deadline; return its exit status."""
    fd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
    finally:
        os.close(fd)
    if not ready:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        raise AssertionError(f"child {pid} did not finish within {timeout} s")
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)
