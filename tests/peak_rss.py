"""Peak RSS of one call, measured by the kernel in a process of its own (``ru_maxrss``).

A test gives the source of a script that defines ``measure(arg) -> str``;
:func:`run_measured` runs it in a fresh interpreter and returns what
``measure`` returned. ``ru_maxrss`` survives ``execve``: a process spawned
by pytest starts with pytest's own peak, which could hide growth. So the
script forks once more, and ``measure`` runs in that child, whose peak
starts from the small interpreter's. ``grown_kib`` and ``control_kib`` are
there for ``measure`` to use: the second proves, with 64 MiB surely
touched, that the measurement would have seen a buffer of that size.
"""

from __future__ import annotations

import subprocess
import sys

_PRELUDE = """
import os, resource, sys, traceback


def peak_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def grown_kib(call):
    '''Run call(); return (its result or exception, how much the peak RSS grew in KiB).'''
    before = peak_kib()
    try:
        outcome = call()
    except Exception as exc:
        outcome = exc
    return outcome, peak_kib() - before


def control_kib():
    before = peak_kib()
    control = bytearray(64 << 20)
    grown = peak_kib() - before
    del control
    return grown
"""

_MAIN = """
pid = os.fork()
if pid == 0:
    code = 0
    try:
        print(measure(sys.argv[1]), flush=True)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        os._exit(code)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(script: str, arg: str, timeout: float = 60, *, warnings_are_errors: bool = False) -> str:
    """Run *script*'s ``measure(arg)`` in a fresh forked process; return what it printed."""
    options = ["-W", "error"] if warnings_are_errors else []
    result = subprocess.run(
        [sys.executable, *options, "-c", _PRELUDE + script + _MAIN, arg],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout
