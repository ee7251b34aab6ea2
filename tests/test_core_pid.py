"""Calls in flight carry this process's pid in every core module, before and after ``fork``.

``close()`` wakes a call blocked in another thread only if that call carries
this process's pid (see ``transports._core.owner.SocketOwner``). The hot
paths live in four modules (transport, stream, message, listener), each
reading its own ``_PID`` global, which the one fork hook in ``owner`` renews.
A module that kept the parent's pid would leave a forked child's blocked call
asleep after its ``close()``: these tests block one call of each module in a
thread of a forked child, close, and require the thread to end.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from blocking import CAN_SEE_BLOCKED, wait_until_blocked
from conftest import TIMEOUT
from forking import CAN_FORK, fork_child, wait_child
from transports import TransportClosed, UnixDatagramTransport, UnixListener, UnixStreamTransport
from transports._core import listener, message, owner, stream, transport

pytestmark = pytest.mark.skipif(not CAN_FORK, reason="needs os.fork and os.pidfd_open")


def _in_child(child: Callable[[], None]) -> int:
    """Run *child* in a forked process; return its exit code (0: it returned), waiting with a deadline."""
    return wait_child(fork_child(child), TIMEOUT * 2)


def test_every_core_module_holds_this_processs_pid_after_fork() -> None:
    modules = (owner, transport, stream, message, listener)
    assert [m._PID for m in modules] == [os.getpid()] * len(modules)

    def child() -> None:
        seen = [m._PID for m in modules]
        assert seen == [os.getpid()] * len(modules), f"stale pids in a forked child: {seen}"

    assert _in_child(child) == 0


def _close_wakes(opened: Callable[[], tuple[Any, Callable[[], object], list[Any]]]) -> None:
    """In this (child) process: block *call* in a thread, close *target*, and require the thread to end."""
    target, call, keep = opened()
    outcome: list[BaseException | object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, name="blocked-in-child", daemon=True)
    thread.start()
    try:
        assert wait_until_blocked(thread), "the call never blocked"
        target.close()
        thread.join(TIMEOUT)
        assert not thread.is_alive(), "close() did not wake the call blocked in this process"
        assert len(outcome) == 1, outcome
        assert isinstance(outcome[0], TransportClosed), outcome
    finally:
        for other in keep:
            other.close()


def _stream_recv() -> tuple[Any, Callable[[], object], list[Any]]:
    a, b = UnixStreamTransport.pair()
    return b, lambda: b.recv(100), [a]


def _stream_recv_exactly() -> tuple[Any, Callable[[], object], list[Any]]:
    a, b = UnixStreamTransport.pair()
    return b, lambda: b.recv_exactly(100), [a]


def _datagram_recv_from() -> tuple[Any, Callable[[], object], list[Any]]:
    a, b = UnixDatagramTransport.pair()
    return b, lambda: b.recv_from(100), [a]


@pytest.mark.skipif(not CAN_SEE_BLOCKED, reason="needs /proc to see that a thread is blocked")
@pytest.mark.parametrize(
    "opened",
    [
        pytest.param(_stream_recv, id="transport-recv"),
        pytest.param(_stream_recv_exactly, id="stream-recv_exactly"),
        pytest.param(_datagram_recv_from, id="message-recv_from"),
        pytest.param("accept", id="listener-accept"),
    ],
)
def test_close_in_a_forked_child_wakes_the_childs_blocked_call(opened: Any, tmp_sock_dir: Path) -> None:
    if opened == "accept":

        def opened() -> tuple[Any, Callable[[], object], list[Any]]:
            server = UnixListener.listen(tmp_sock_dir / "core-pid.sock")
            return server, server.accept, []

    assert _in_child(lambda: _close_wakes(opened)) == 0
