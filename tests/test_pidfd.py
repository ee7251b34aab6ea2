"""``peer_credentials(pidfd=True)`` and :class:`~transports.pidfd.PidFd`: a peer named by a descriptor (APUE 17.3).

The peers here are real processes: a child started with ``subprocess``
connects to our listener, and the server follows it through the pidfd the
kernel took with the connection -- alive, signalled, gone. Waiting for a
child's exit is a ``select`` on the pidfd with a timeout, never a sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import os
import pickle
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest

import transports.pidfd
from transports import (
    Credentials,
    UnixDatagramTransport,
    UnixListener,
    UnixSeqpacketListener,
    UnixSeqpacketTransport,
    UnixStreamTransport,
    aio,
)
from transports.pidfd import SO_PEERPIDFD, PidFd, ProcessExited

TIMEOUT = 5.0


def _kernel_has_peer_pidfd() -> bool:
    if SO_PEERPIDFD is None:
        return False
    a, b = socket.socketpair()
    with a, b:
        try:
            os.close(a.getsockopt(socket.SOL_SOCKET, SO_PEERPIDFD))
        except OSError:
            return False
    return True


needs_peer_pidfd = pytest.mark.skipif(
    not _kernel_has_peer_pidfd(), reason="this kernel has no SO_PEERPIDFD (Linux 6.5 and later)"
)
ME = Credentials(os.getpid(), os.getuid(), os.getgid())

#: The child: connect to the listener at argv[1] (stream or seqpacket, argv[2]), say
#: hello, then wait for one message: "exit" makes it leave, nothing else arrives.
_CHILD = """
import socket, sys
kind = socket.SOCK_STREAM if sys.argv[2] == "stream" else socket.SOCK_SEQPACKET
with socket.socket(socket.AF_UNIX, kind) as conn:
    conn.settimeout(30)
    conn.connect(sys.argv[1])
    conn.sendall(b"hello")
    conn.recv(16)
"""


def _exited_within(pidfd: PidFd, timeout: float) -> bool:
    """Wait until the process exits (its pidfd polls readable), at most *timeout* seconds."""
    ready, _, _ = select.select([pidfd.fileno()], [], [], timeout)
    return bool(ready)


@contextlib.contextmanager
def _connected_child(
    tmp_sock_dir: Path, tmp_path: Path, kind: str = "stream"
) -> Iterator[tuple[subprocess.Popen[bytes], UnixStreamTransport | UnixSeqpacketTransport]]:
    """A child process connected to our listener, and our end of its connection."""
    script = tmp_path / "child.py"
    script.write_text(_CHILD, encoding="utf-8")
    path = tmp_sock_dir / "server.sock"
    listener_cls = UnixListener if kind == "stream" else UnixSeqpacketListener
    with listener_cls.listen(path, timeout=TIMEOUT) as listener:
        proc = subprocess.Popen([sys.executable, os.fspath(script), os.fspath(path), kind])
        try:
            with listener.accept() as conn:
                conn.timeout = TIMEOUT
                assert conn.recv(16) == b"hello"
                yield proc, conn
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=TIMEOUT)


# -- the default is unchanged -------------------------------------------------------------------------


def test_without_pidfd_nothing_new_is_opened(fd_count: Callable[[], int]) -> None:
    a, b = UnixStreamTransport.pair()
    with a, b:
        before = fd_count()
        who = a.peer_credentials()
        assert fd_count() == before
    assert who == ME
    assert who.pidfd is None


def test_the_pidfd_takes_no_part_in_equality() -> None:
    a, b = UnixStreamTransport.pair()
    with a, b:
        who = a.peer_credentials(pidfd=True)
    with contextlib.ExitStack() as stack:
        if who.pidfd is not None:
            stack.enter_context(who.pidfd)
        assert who == ME
        assert hash(who) == hash(ME)
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            who.pidfd = None  # type: ignore[misc]


# -- a pidfd of the peer -------------------------------------------------------------------------------


@needs_peer_pidfd
@pytest.mark.parametrize("cls", [UnixStreamTransport, UnixSeqpacketTransport, UnixDatagramTransport])
def test_a_socketpair_end_gives_a_pidfd_of_its_maker(
    cls: type[UnixStreamTransport | UnixSeqpacketTransport | UnixDatagramTransport],
    fd_count: Callable[[], int],
) -> None:
    a, b = cls.pair()
    with a, b:
        before = fd_count()
        who = a.peer_credentials(pidfd=True)
        assert who.pidfd is not None
        with who.pidfd as pidfd:
            assert fd_count() == before + 1
            assert who == ME
            assert pidfd.pid == os.getpid()
            assert pidfd.is_alive()
            assert not os.get_inheritable(pidfd.fileno()), "a pidfd must be close-on-exec"
        assert pidfd.closed
        assert fd_count() == before


@needs_peer_pidfd
@pytest.mark.parametrize("kind", ["stream", "seqpacket"])
def test_the_pidfd_follows_the_peer_until_it_exits(kind: str, tmp_sock_dir: Path, tmp_path: Path) -> None:
    with _connected_child(tmp_sock_dir, tmp_path, kind) as (proc, conn):
        who = conn.peer_credentials(pidfd=True)
        assert who == Credentials(proc.pid, os.getuid(), os.getgid())
        assert who.pidfd is not None
        with who.pidfd as pidfd:
            assert pidfd.pid == proc.pid
            assert pidfd.is_alive()
            pidfd.send_signal(0)  # a check, no signal
            conn.send(b"exit")
            assert _exited_within(pidfd, TIMEOUT), "the child did not exit"
            # Exited but not yet reaped (a zombie): gone as far as the pidfd is concerned.
            assert not pidfd.is_alive()
            assert proc.wait(timeout=TIMEOUT) == 0
            assert not pidfd.is_alive()


@needs_peer_pidfd
def test_send_signal_reaches_a_live_peer(tmp_sock_dir: Path, tmp_path: Path) -> None:
    with _connected_child(tmp_sock_dir, tmp_path) as (proc, conn):
        who = conn.peer_credentials(pidfd=True)
        assert who.pidfd is not None
        with who.pidfd as pidfd:
            pidfd.send_signal(signal.SIGTERM)  # the child is blocked in recv: the default action ends it
            assert _exited_within(pidfd, TIMEOUT)
            assert proc.wait(timeout=TIMEOUT) == -signal.SIGTERM


@needs_peer_pidfd
def test_an_exited_peer_is_never_signalled_through_its_old_pid(tmp_sock_dir: Path, tmp_path: Path) -> None:
    """The point of a pidfd: it can never reach the process that inherits a pid.

    The kernel gives a pid out again once its process has exited and been
    reaped. ``os.kill(old_pid, SIGTERM)`` from a server that kept only the
    number would then kill whatever process was given it next -- the race of
    APUE's ``serv_accept``, which identifies a client by what it can read about
    it, not by a handle on it. A test cannot make the kernel reuse a given pid;
    what it can show is the other half: once the peer has exited and been
    reaped, the pidfd refuses to signal anyone (``ESRCH``, raised as our
    :class:`ProcessExited`), whoever now has the number.
    """
    with _connected_child(tmp_sock_dir, tmp_path) as (proc, conn):
        who = conn.peer_credentials(pidfd=True)
        assert who.pidfd is not None
        with who.pidfd as pidfd:
            conn.send(b"exit")
            assert _exited_within(pidfd, TIMEOUT)
            proc.wait(timeout=TIMEOUT)  # reaped: its number is free for the next fork
            for sig in (signal.SIGTERM, 0):
                with pytest.raises(ProcessExited) as info:
                    pidfd.send_signal(sig)
                err = info.value
                assert isinstance(err, ProcessLookupError)
                assert err.errno == errno.ESRCH
                assert err.pid == proc.pid
                assert f"pid {proc.pid}" in str(err)
                assert "has exited" in str(err)
                assert "nothing was sent" in str(err)


@needs_peer_pidfd
def test_a_pidfd_taken_after_the_peer_exited_reports_it_gone(tmp_sock_dir: Path, tmp_path: Path) -> None:
    # New kernels (6.16+) hand out a pidfd for a reaped peer; older ones refuse, and pidfd is None.
    with _connected_child(tmp_sock_dir, tmp_path) as (proc, conn):
        conn.send(b"exit")
        assert conn.recv(16) == b""  # the child closed its end: it is leaving
        proc.wait(timeout=TIMEOUT)
        who = conn.peer_credentials(pidfd=True)
        assert who.pid == proc.pid
        if who.pidfd is not None:
            with who.pidfd as pidfd:
                assert not pidfd.is_alive()
                with pytest.raises(ProcessExited):
                    pidfd.send_signal(signal.SIGTERM)


# -- where the kernel or platform has none -------------------------------------------------------------


def test_no_pidfd_where_the_platform_lacks_the_option(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transports.pidfd, "SO_PEERPIDFD", None)
    a, b = UnixStreamTransport.pair()
    with a, b:
        who = a.peer_credentials(pidfd=True)
    assert who == ME
    assert who.pidfd is None


def test_no_pidfd_where_the_kernel_lacks_the_option(monkeypatch: pytest.MonkeyPatch) -> None:
    # An option number the kernel does not know answers ENOPROTOOPT, as SO_PEERPIDFD does before 6.5.
    monkeypatch.setattr(transports.pidfd, "SO_PEERPIDFD", 4095)
    a, b = UnixSeqpacketTransport.pair()
    with a, b:
        who = a.peer_credentials(pidfd=True)
    assert who == ME
    assert who.pidfd is None


def test_the_constant_is_the_linux_number() -> None:
    if sys.platform.startswith("linux") and os.uname().machine in ("x86_64", "aarch64"):
        assert SO_PEERPIDFD == 77
    if hasattr(socket, "SO_PEERPIDFD"):  # Python 3.13+
        assert int(socket.SO_PEERPIDFD) == SO_PEERPIDFD


# -- PidFd itself ---------------------------------------------------------------------------------------


def test_a_pidfd_closes_once_and_then_refuses(fd_count: Callable[[], int]) -> None:
    before = fd_count()
    pidfd = PidFd.open(os.getpid())
    assert fd_count() == before + 1
    assert repr(pidfd) == f"<PidFd pid={os.getpid()} fd={pidfd.fileno()}>"
    pidfd.close()
    pidfd.close()
    assert fd_count() == before
    assert pidfd.closed
    assert repr(pidfd) == f"<PidFd pid={os.getpid()} closed>"
    assert pidfd.pid == os.getpid()
    for call in (pidfd.fileno, pidfd.is_alive, lambda: pidfd.send_signal(0)):
        with pytest.raises(ValueError, match=f"PidFd of pid {os.getpid()}: it is closed"):
            call()


def _forget_a_pidfd() -> None:
    PidFd.open(os.getpid())  # dropped at once: the finalizer runs


def test_a_forgotten_pidfd_is_closed_with_a_warning(fd_count: Callable[[], int]) -> None:
    before = fd_count()
    with pytest.warns(ResourceWarning, match="unclosed <PidFd pid="):
        _forget_a_pidfd()
    gc.collect()
    assert fd_count() == before


def test_a_pidfd_is_not_pickled() -> None:
    with PidFd.open(os.getpid()) as pidfd, pytest.raises(TypeError, match="cannot be copied or serialised"):
        pickle.dumps(pidfd)


def test_process_exited_pickles_with_its_pid() -> None:
    err = ProcessExited("gone", pid=42)
    again = pickle.loads(pickle.dumps(err))
    assert isinstance(again, ProcessExited)
    assert (again.pid, again.errno, str(again)) == (42, errno.ESRCH, "gone")


def test_open_refuses_a_pid_nobody_has() -> None:
    unused = 1 << 22  # above PID_MAX_LIMIT: no process can have it
    with pytest.raises(ProcessLookupError, match=f"no process has pid {unused}"):
        PidFd.open(unused)


@pytest.mark.parametrize("bad", [-1, True, 3.0, "3"])
def test_a_pidfd_takes_an_open_descriptor(bad: object) -> None:
    with pytest.raises(ValueError, match="PidFd takes an open descriptor"):
        PidFd(bad, os.getpid())  # type: ignore[arg-type]  # the wrong types are the point


# -- the async face --------------------------------------------------------------------------------------


@needs_peer_pidfd
def test_the_async_face_gives_a_pidfd_without_waiting() -> None:
    async def main() -> Credentials:
        a, b = aio.UnixSeqpacketTransport.pair()
        async with a, b:
            plain = a.peer_credentials()
            assert plain.pidfd is None
            return b.peer_credentials(pidfd=True)

    who = asyncio.run(main())
    assert who == ME
    assert who.pidfd is not None
    with who.pidfd as pidfd:
        assert pidfd.is_alive()
        assert pidfd.pid == os.getpid()


@needs_peer_pidfd
def test_an_event_loop_can_wait_for_the_peer_to_exit(tmp_sock_dir: Path, tmp_path: Path) -> None:
    with _connected_child(tmp_sock_dir, tmp_path) as (proc, conn):
        who = conn.peer_credentials(pidfd=True)
        assert who.pidfd is not None

        async def wait_for_exit(pidfd: PidFd) -> None:
            loop = asyncio.get_running_loop()
            exited = loop.create_future()
            loop.add_reader(pidfd.fileno(), exited.set_result, None)
            try:
                conn.send(b"exit")
                await asyncio.wait_for(exited, TIMEOUT)
            finally:
                loop.remove_reader(pidfd.fileno())

        with who.pidfd as pidfd:
            asyncio.run(wait_for_exit(pidfd))
            assert not pidfd.is_alive()
        assert proc.wait(timeout=TIMEOUT) == 0
