"""Knowing, without sleeping, that a thread is blocked inside a system call (Linux /proc).

A test that closes a transport "while another thread is blocked in recv"
must know the other thread got that far: an Event set just before the call
only says it is about to call. On Linux, ``/proc/self/task/<tid>/stat``
says whether the thread sleeps and ``.../syscall`` in which call; a thread
waiting for the GIL sleeps in ``futex``, one blocked in ``recv`` in
``recvfrom``. This polls those files until the thread sleeps in anything
but ``futex``, with a deadline: a synchronisation on kernel state, not a guess.
"""

from __future__ import annotations

import platform
import sys
import threading
import time
from pathlib import Path

#: futex(2)'s number, where a thread waits for the GIL or a lock.
_FUTEX = {"x86_64": "202", "aarch64": "98", "ppc64le": "221", "s390x": "238"}.get(platform.machine())

#: Whether this platform lets a test see where a thread sleeps.
CAN_SEE_BLOCKED = sys.platform.startswith("linux") and _FUTEX is not None


def _blocked(native_id: int) -> bool | None:
    """True if the thread sleeps in a non-futex system call, False if not (yet), None if it is gone."""
    task = Path(f"/proc/self/task/{native_id}")
    try:
        stat = (task / "stat").read_text()
        syscall = (task / "syscall").read_text().split()
    except OSError:
        return None
    state = stat.rsplit(")", 1)[1].split()[0]
    return state == "S" and bool(syscall) and syscall[0] not in ("running", "-1", _FUTEX)


def wait_until_blocked(thread: threading.Thread, timeout: float = 5.0) -> bool:
    """Wait until *thread* is blocked in a system call; False if it ended first.

    Where the platform cannot tell (not Linux), returns True at once: the
    caller's Event already said the thread is about to block.
    """
    if not CAN_SEE_BLOCKED:
        return thread.is_alive()
    native_id = thread.native_id
    assert native_id is not None, "start the thread first"
    deadline = time.monotonic() + timeout
    poll = threading.Event()  # never set: its wait() is the polling interval
    while time.monotonic() < deadline:
        state = _blocked(native_id)
        if state is None or not thread.is_alive():
            return False
        if state:
            return True
        poll.wait(0.001)
    raise AssertionError(f"thread {thread.name} did not block in a system call within {timeout} s")
