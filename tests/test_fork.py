"""Fork and close (APUE 8.3 fork, 16.2 close versus shutdown, 17.3 a server's socket file).

After ``fork`` parent and child share every socket. ``close`` drops one
process's reference; ``shutdown`` acts on the socket itself, for both. So
the classic patterns must keep working: a parent that closes its copy of a
connection a child serves, a child that closes its inherited copy of a
connection or a listener (a pre-fork server's workers), and only the
process that created a Unix socket file removes it.

Each test forks real processes. A child runs one function and leaves with
``os._exit`` (0 when it returned, 1 when it raised); the parent waits on a
pidfd with a deadline, never with a sleep.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from blocking import wait_until_blocked
from conftest import TIMEOUT, Background
from forking import CAN_FORK, fork_child, wait_child
from transports import (
    InetAddress,
    TCPListener,
    TCPTransport,
    UnixDatagramTransport,
    UnixListener,
    UnixSeqpacketListener,
    UnixSeqpacketTransport,
    UnixStreamTransport,
)

pytestmark = pytest.mark.skipif(not CAN_FORK, reason="needs os.fork and os.pidfd_open")


def _fork(child: Callable[[], None]) -> int:
    return fork_child(child)


def _wait(pid: int, timeout: float = TIMEOUT) -> int:
    return wait_child(pid, timeout)


@contextmanager
def _tcp_connection() -> Iterator[tuple[TCPListener, TCPTransport, TCPTransport]]:
    with TCPListener.listen("127.0.0.1", 0, timeout=TIMEOUT) as listener:
        port = listener.address.port
        with TCPTransport.connect("127.0.0.1", port, timeout=TIMEOUT) as client, listener.accept() as served:
            served.timeout = TIMEOUT
            yield listener, client, served


# -- connections ----------------------------------------------------------------------------


def test_parent_closes_its_copy_after_forking_the_child_that_serves() -> None:
    """The accept-fork-close server of APUE 16.4: the parent's close must not cut the child's connection."""
    with _tcp_connection() as (_listener, client, served):
        ready_r, ready_w = os.pipe()

        def serve() -> None:
            os.close(ready_r)
            os.write(ready_w, b"!")  # forked: now the parent may close its copy
            served.send_all(served.recv_exactly(5).upper())
            served.close()

        pid = _fork(serve)
        os.close(ready_w)
        try:
            assert os.read(ready_r, 1) == b"!"
        finally:
            os.close(ready_r)
        served.close()  # the parent's copy: the child still serves the connection
        client.send_all(b"hello")
        assert client.recv_exactly(5) == b"HELLO"
        assert client.recv(10) == b"", "the child's close ends the stream"
        assert _wait(pid) == 0


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_child_closing_its_inherited_copy_leaves_the_parents_connection(kind: str) -> None:
    a: TCPTransport | UnixStreamTransport
    b: TCPTransport | UnixStreamTransport
    if kind == "unix":
        a, b = UnixStreamTransport.pair()
        with a, b:
            _child_closes(a, b)
    else:
        with _tcp_connection() as (_listener, a, b):
            _child_closes(a, b)


def _child_closes(a: TCPTransport | UnixStreamTransport, b: TCPTransport | UnixStreamTransport) -> None:
    b.timeout = TIMEOUT
    assert _wait(_fork(b.close)) == 0
    a.send_all(b"ping")
    assert b.recv_exactly(4) == b"ping"
    b.send_all(b"pong")
    assert a.recv_exactly(4) == b"pong"


def test_child_closing_a_copy_the_parents_thread_is_blocked_on(background: Background) -> None:
    """The child inherits the parent's record of a blocked call, not the thread: a plain close."""
    a, b = UnixStreamTransport.pair()
    with a, b:
        about = threading.Event()

        def receive() -> bytes:
            about.set()
            return b.recv(100)

        task = background.start(receive, name="parent-receiver")
        assert about.wait(TIMEOUT)
        assert wait_until_blocked(task.thread)
        assert _wait(_fork(b.close)) == 0
        a.send_all(b"for the parent")
        assert task.result(TIMEOUT) == b"for the parent"


# -- listeners: a pre-fork server ---------------------------------------------------------


def test_prefork_workers_closing_a_tcp_listener_leave_it_listening() -> None:
    with TCPListener.listen("127.0.0.1", 0, timeout=TIMEOUT) as listener:
        port = listener.address.port

        def worker() -> None:
            with listener.accept() as conn:
                conn.timeout = TIMEOUT
                conn.send_all(conn.recv_exactly(3) * 2)
            listener.close()

        pids = [_fork(worker) for _ in range(2)]
        for _ in pids:
            with TCPTransport.connect("127.0.0.1", port, timeout=TIMEOUT) as client:
                client.send_all(b"abc")
                assert client.recv_exactly(6) == b"abcabc"
        assert [_wait(pid) for pid in pids] == [0, 0]
        # Both workers have closed their copies: the parent still listens.
        with TCPTransport.connect("127.0.0.1", port, timeout=TIMEOUT) as client, listener.accept() as conn:
            client.send_all(b"parent")
            conn.timeout = TIMEOUT
            assert conn.recv_exactly(6) == b"parent"


@pytest.mark.parametrize("listener_class", [UnixListener, UnixSeqpacketListener])
def test_prefork_workers_closing_a_unix_listener_keep_its_file(
    listener_class: type[UnixListener] | type[UnixSeqpacketListener], tmp_sock_dir: Path
) -> None:
    path = tmp_sock_dir / "prefork.sock"
    client_class = UnixStreamTransport if listener_class is UnixListener else UnixSeqpacketTransport
    with listener_class.listen(path, timeout=TIMEOUT) as listener:

        def worker() -> None:
            with listener.accept() as conn:
                conn.timeout = TIMEOUT
                conn.send(conn.recv(10) * 2)
            listener.close()

        pids = [_fork(worker) for _ in range(2)]
        for _ in pids:
            with client_class.connect(path, timeout=TIMEOUT) as client:
                client.send(b"abc")
                assert client.recv(10) == b"abcabc"
        assert [_wait(pid) for pid in pids] == [0, 0]
        assert path.exists(), "a worker's close removed the parent's socket file"
        with client_class.connect(path, timeout=TIMEOUT) as client, listener.accept() as conn:
            client.send(b"parent")
            conn.timeout = TIMEOUT
            assert conn.recv(10) == b"parent"
    assert not path.exists(), "the process that created the file removes it"


def test_child_closing_a_bound_unix_datagram_keeps_its_file(tmp_sock_dir: Path) -> None:
    path = tmp_sock_dir / "bound.sock"
    with UnixDatagramTransport.bind(path, timeout=TIMEOUT) as server:
        assert _wait(_fork(server.close)) == 0
        assert path.exists(), "the child's close removed the parent's socket file"
        with UnixDatagramTransport.connect(path, timeout=TIMEOUT) as client:
            client.send(b"still reachable")
            assert server.recv_from(100).data == b"still reachable"
    assert not path.exists()


def test_parent_still_removes_the_file_after_a_child_exits(tmp_sock_dir: Path) -> None:
    path = tmp_sock_dir / "owner.sock"
    listener = UnixListener.listen(path)
    try:
        assert _wait(_fork(lambda: None)) == 0
    finally:
        listener.close()
    assert not path.exists()


def test_forked_child_can_serve_a_tcp_listener_it_owns_after_the_parent_closes() -> None:
    """The reverse hand-over: the parent closes its copy, the child keeps accepting."""
    with TCPListener.listen("127.0.0.1", 0, timeout=TIMEOUT) as listener:
        address = listener.address
        assert isinstance(address, InetAddress)
        ready_r, ready_w = os.pipe()

        def serve() -> None:
            os.close(ready_r)
            os.write(ready_w, b"!")
            with listener.accept() as conn:
                conn.timeout = TIMEOUT
                conn.send_all(b"child")

        pid = _fork(serve)
        os.close(ready_w)
        try:
            assert os.read(ready_r, 1) == b"!"
        finally:
            os.close(ready_r)
        listener.close()
        with TCPTransport.connect("127.0.0.1", address.port, timeout=TIMEOUT) as client:
            assert client.recv_exactly(5) == b"child"
        assert _wait(pid) == 0
