"""Unique connections under races and tricks (APUE 17.3 Unique Connections).

A Unix listener replaces a socket file only when it is stale, serialises
that check against other starters with a lock file beside the path
(``PATH.lock``, present only while a start is under way), never follows or
removes what it did not make, and removes its own file on close only if it
is still its own. Every error path here is checked for leaked descriptors
and for files left behind.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import transports._core.unixpath
from conftest import TIMEOUT, Background
from transports import (
    AddressInUse,
    ConnectionRefused,
    TransportError,
    UnixDatagramTransport,
    UnixListener,
    UnixSeqpacketListener,
    UnixSeqpacketTransport,
    UnixStreamTransport,
    UnsupportedOption,
)
from transports.options import SO_BROADCAST


def _lock(path: Path) -> Path:
    return Path(f"{path}.lock")


def _leave_stale_socket(path: Path, kind: int = socket.SOCK_STREAM) -> None:
    """Bind a socket at *path* and close it: the file stays, with nobody behind it."""
    with socket.socket(socket.AF_UNIX, kind) as dead:
        dead.bind(os.fspath(path))
    assert stat.S_ISSOCK(os.lstat(path).st_mode)


def _identity(path: Path) -> tuple[int, int, int, int]:
    st = os.lstat(path)
    return st.st_ino, st.st_mode, st.st_size, st.st_mtime_ns


@contextlib.contextmanager
def _rival_listener(path: Path) -> Iterator[socket.socket]:
    """Another server's live socket at *path* (a raw socket, as any other program would make)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as rival:
        rival.bind(os.fspath(path))
        rival.listen()
        rival.settimeout(TIMEOUT)
        yield rival


def _reaches(path: Path, server: socket.socket | UnixListener) -> bool:
    """Whether a client connecting to *path* is accepted by *server*.

    Connections that end at once are skipped: a starter that found the path
    live connected to it to find out (the stale-file probe) and left.
    """
    with UnixStreamTransport.connect(path, timeout=TIMEOUT) as client:
        client.send_all(b"who?")
        for _ in range(16):
            if isinstance(server, UnixListener):
                with server.accept() as conn:
                    conn.timeout = TIMEOUT
                    if conn.recv(4) == b"who?":
                        conn.send_all(b"it is me")
                        break
            else:
                raw, _ = server.accept()
                with raw:
                    raw.settimeout(TIMEOUT)
                    if raw.recv(4) == b"who?":
                        raw.sendall(b"it is me")
                        break
        return client.recv_exactly(8) == b"it is me"


# -- racing starters ---------------------------------------------------------------------------------


def test_a_starter_waits_while_another_holds_the_lock(
    tmp_sock_dir: Path, background: Background, monkeypatch: pytest.MonkeyPatch
) -> None:
    # We play the first starter: holding PATH.lock, we find the file stale and
    # put our live socket there. The second starter (a thread) must wait for
    # the lock, and then see a live socket instead of a stale one.
    path = tmp_sock_dir / "race.sock"
    _leave_stale_socket(path)
    lock_fd = os.open(_lock(path), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        asking = threading.Event()
        real_flock = fcntl.flock

        def flock(fd: int, operation: int) -> None:
            asking.set()  # the second starter is about to wait for the lock
            real_flock(fd, operation)

        monkeypatch.setattr(fcntl, "flock", flock)

        def second_start() -> None:
            listener = UnixListener.listen(path, timeout=TIMEOUT)
            listener.close()
            raise AssertionError("the second starter did not wait for the lock")

        second = background.start(second_start, name="second-starter")
        assert asking.wait(TIMEOUT), "the second starter never asked for the start lock"
        os.unlink(path)
        with _rival_listener(path) as rival:
            # Let go as a starter does: remove the lock file, then close it.
            os.unlink(_lock(path))
            os.close(lock_fd)
            lock_fd = -1
            with pytest.raises(AddressInUse, match="listening"):
                second.result()
            assert _reaches(path, rival), "the first starter's socket was replaced"
            assert not _lock(path).exists()
    finally:
        if lock_fd != -1:
            os.close(lock_fd)


@pytest.mark.parametrize("round_", range(5))
def test_racing_threads_exactly_one_wins(round_: int, tmp_sock_dir: Path, background: Background) -> None:
    path = tmp_sock_dir / "race.sock"
    _leave_stale_socket(path)
    starters = 4
    barrier = threading.Barrier(starters, timeout=TIMEOUT)

    def start() -> UnixListener | AddressInUse:
        barrier.wait()
        try:
            return UnixListener.listen(path, timeout=TIMEOUT)
        except AddressInUse as exc:
            return exc

    tasks = [background.start(start, name=f"starter-{i}") for i in range(starters)]
    results = [task.result() for task in tasks]
    winners = [r for r in results if isinstance(r, UnixListener)]
    with contextlib.ExitStack() as stack:
        for winner in winners:
            stack.enter_context(winner)
        assert len(winners) == 1, f"{len(winners)} starters think they listen at {path}"
        assert all(isinstance(r, AddressInUse) for r in results if r is not winners[0])
        assert _reaches(path, winners[0])
        assert not _lock(path).exists()
    assert not path.exists()


_RACER = """
import os, sys
from transports import AddressInUse, UnixListener
print("ready", flush=True)
sys.stdin.readline()  # wait for "go", so that every racer starts at once
try:
    listener = UnixListener.listen(sys.argv[1], timeout=10)
except AddressInUse:
    print("in use", flush=True)
    sys.exit(0)
with listener:
    print("won", flush=True)
    for conn in listener:
        with conn:
            conn.timeout = 10
            # The other racers' stale-file probes connect and leave at once: skip them.
            if conn.recv(4) == b"who?":
                conn.send_all(b"%d" % os.getpid())
                break
"""


def _line(proc: subprocess.Popen[bytes]) -> bytes:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], TIMEOUT)
    assert ready, f"process {proc.pid} said nothing within {TIMEOUT} s"
    return proc.stdout.readline().strip()


def test_racing_processes_exactly_one_wins(tmp_sock_dir: Path) -> None:
    path = tmp_sock_dir / "race.sock"
    _leave_stale_socket(path)
    with contextlib.ExitStack() as stack:
        procs = []
        for _ in range(4):
            proc = stack.enter_context(
                subprocess.Popen(
                    [sys.executable, "-c", _RACER, os.fspath(path)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                )
            )
            stack.callback(_reap, proc)
            procs.append(proc)
        assert [_line(p) for p in procs] == [b"ready"] * 4
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            proc.stdin.flush()
        said = {proc.pid: _line(proc) for proc in procs}
        winners = [pid for pid, line in said.items() if line == b"won"]
        assert len(winners) == 1, said
        assert sorted(said.values()) == [b"in use"] * 3 + [b"won"]
        with UnixStreamTransport.connect(path, timeout=TIMEOUT) as client:
            client.send_all(b"who?")
            assert client.recv(32) == str(winners[0]).encode()
        for proc in procs:
            assert proc.wait(timeout=TIMEOUT) == 0
    assert not path.exists()
    assert not _lock(path).exists()


def _reap(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=TIMEOUT)


_LOCK_HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()  # hold the lock until killed
"""


def test_a_starter_killed_while_holding_the_lock(tmp_sock_dir: Path) -> None:
    # The kernel drops a dead process's lock; its lock file stays, and the next start
    # takes it over instead of waiting forever or failing.
    path = tmp_sock_dir / "server.sock"
    _leave_stale_socket(path)
    holder = subprocess.Popen(
        [sys.executable, "-c", _LOCK_HOLDER, os.fspath(_lock(path))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    with holder:
        assert _line(holder) == b"locked"
        holder.kill()
        holder.wait(timeout=TIMEOUT)
    assert _lock(path).exists()
    with UnixListener.listen(path, timeout=TIMEOUT) as listener:
        assert not _lock(path).exists()
        assert _reaches(path, listener)


# -- the lock file never outlives a start ---------------------------------------------------------


def test_no_lock_file_while_listening_or_after(tmp_sock_dir: Path) -> None:
    path = tmp_sock_dir / "server.sock"
    with UnixListener.listen(path, timeout=TIMEOUT):
        assert sorted(p.name for p in tmp_sock_dir.iterdir()) == ["server.sock"]
    assert list(tmp_sock_dir.iterdir()) == []
    with UnixDatagramTransport.bind(path):
        assert sorted(p.name for p in tmp_sock_dir.iterdir()) == ["server.sock"]
    assert list(tmp_sock_dir.iterdir()) == []


def test_an_interrupted_start_leaves_nothing(
    tmp_sock_dir: Path, fd_count: Callable[[], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A KeyboardInterrupt in the middle of a start (here, while checking the
    # old file) releases the lock and closes everything.
    path = tmp_sock_dir / "server.sock"
    _leave_stale_socket(path)

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(transports._core.unixpath, "clear_stale", interrupted)
    before = fd_count()
    with pytest.raises(KeyboardInterrupt):
        UnixListener.listen(path)
    assert fd_count() == before
    assert not _lock(path).exists()
    assert stat.S_ISSOCK(os.lstat(path).st_mode)  # the stale file is still there, untouched


def test_an_interrupted_bind_leaves_nothing(
    tmp_sock_dir: Path, fd_count: Callable[[], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Interrupted after bind made the file: the file is ours, so it goes too.
    path = tmp_sock_dir / "server.sock"

    class Interrupted(transports._core.unixpath.OwnedPath):
        def chmod(self, mode: int) -> None:
            raise KeyboardInterrupt

    monkeypatch.setattr(transports._core.unixpath, "OwnedPath", Interrupted)
    before = fd_count()
    with pytest.raises(KeyboardInterrupt):
        UnixListener.listen(path)
    assert fd_count() == before
    assert list(tmp_sock_dir.iterdir()) == []


# -- files at the path and at PATH.lock ------------------------------------------------------------


def _regular(path: Path) -> Path:
    path.write_bytes(b"precious data")
    return path


def _symlink_to_file(path: Path) -> Path:
    target = _regular(path.with_name("target.txt"))
    path.symlink_to(target)
    return target


def _dangling_symlink(path: Path) -> Path:
    target = path.with_name("nowhere")
    path.symlink_to(target)
    return target


def _symlink_to_directory(path: Path) -> Path:
    target = path.with_name("target-dir")
    target.mkdir()
    path.symlink_to(target)
    return target


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _directory(path: Path) -> Path:
    path.mkdir()
    (path / "inside").write_bytes(b"precious data")
    return path / "inside"


def _snapshot(directory: Path) -> dict[str, tuple[int, int, int, int]]:
    return {p.name: _identity(p) for p in directory.iterdir()}


STARTS: list[tuple[str, Callable[[Path], object]]] = [
    ("stream-listener", UnixListener.listen),
    ("seqpacket-listener", UnixSeqpacketListener.listen),
    ("datagram-bind", UnixDatagramTransport.bind),
]
PLANTS = [
    pytest.param(_symlink_to_file, "a symbolic link", id="symlink-to-file"),
    pytest.param(_dangling_symlink, "a symbolic link", id="dangling-symlink"),
    pytest.param(_symlink_to_directory, "a symbolic link", id="symlink-to-directory"),
    pytest.param(_fifo, "a FIFO", id="fifo"),
    pytest.param(_directory, "a directory", id="directory"),
]


@pytest.mark.parametrize(("plant", "described"), PLANTS)
@pytest.mark.parametrize(("name", "start"), STARTS, ids=[name for name, _ in STARTS])
def test_nothing_but_a_socket_at_the_path_is_touched(
    plant: Callable[[Path], Path],
    described: str,
    name: str,
    start: Callable[[Path], object],
    tmp_sock_dir: Path,
    fd_count: Callable[[], int],
) -> None:
    path = tmp_sock_dir / "taken"
    target = plant(path)
    before_files = _snapshot(tmp_sock_dir)
    target_before = _identity(target) if os.path.lexists(target) else None
    before = fd_count()
    with pytest.raises(AddressInUse) as info:
        start(path)
    assert described in str(info.value)
    assert fd_count() == before
    assert _snapshot(tmp_sock_dir) == before_files  # nothing made, removed or changed; no lock left
    if target_before is None:
        assert not os.path.lexists(target), "a dangling link's target was created"
    else:
        assert _identity(target) == target_before


def _lock_symlink_to_file(lock: Path) -> Path:
    target = lock.with_name("precious.txt")
    target.write_bytes(b"precious data")
    lock.symlink_to(target)
    return target


def _lock_dangling_symlink(lock: Path) -> Path:
    target = lock.with_name("would-be-created")
    lock.symlink_to(target)
    return target


def _lock_directory(lock: Path) -> Path:
    lock.mkdir()
    (lock / "inside").write_bytes(b"precious data")
    return lock / "inside"


@pytest.mark.parametrize(
    ("plant", "reason"),
    [
        pytest.param(_lock_symlink_to_file, "ELOOP", id="symlink-to-file"),
        pytest.param(_lock_dangling_symlink, "ELOOP", id="dangling-symlink"),
        pytest.param(_lock_directory, "EISDIR", id="directory"),
    ],
)
def test_a_trap_at_the_lock_path_is_refused(
    plant: Callable[[Path], Path], reason: str, tmp_sock_dir: Path, fd_count: Callable[[], int]
) -> None:
    # The lock file is opened without following a symbolic link (O_NOFOLLOW):
    # a link planted at PATH.lock can neither create nor open its target.
    path = tmp_sock_dir / "server.sock"
    target = plant(_lock(path))
    before_files = _snapshot(tmp_sock_dir)
    target_before = _identity(target) if target.exists() else None
    before = fd_count()
    with pytest.raises(TransportError, match=reason) as info:
        UnixListener.listen(path)
    assert "start lock" in str(info.value)
    assert fd_count() == before
    assert _snapshot(tmp_sock_dir) == before_files
    assert not path.exists()
    if target_before is None:
        assert not os.path.lexists(target)
    else:
        assert _identity(target) == target_before
        assert target.read_bytes() == b"precious data"


def test_a_hard_link_at_the_lock_path_keeps_its_data(tmp_sock_dir: Path) -> None:
    # A hard link cannot be told from a lock file left by a killed starter; the
    # lock is opened without truncating and only its name is removed, so the
    # file it shares an inode with keeps its data and its own name.
    path = tmp_sock_dir / "server.sock"
    precious = tmp_sock_dir / "precious.txt"
    precious.write_bytes(b"precious data")
    os.link(precious, _lock(path))
    with UnixListener.listen(path, timeout=TIMEOUT):
        assert precious.read_bytes() == b"precious data"
        assert not _lock(path).exists()
    assert precious.read_bytes() == b"precious data"
    assert os.lstat(precious).st_nlink == 1


def _fill_backlog(stack: contextlib.ExitStack, path: Path) -> int:
    """Connect (without blocking) until the listener's backlog is full; return how many got in."""
    for count in range(64):
        client = stack.enter_context(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
        client.setblocking(False)
        try:
            client.connect(os.fspath(path))
        except BlockingIOError:
            return count
    raise AssertionError("the backlog never filled up")


def test_a_full_backlog_means_someone_is_listening(tmp_sock_dir: Path) -> None:
    # The stale-file probe is a non-blocking connect; a full backlog answers
    # EAGAIN, which must count as "live", never as "stale".
    path = tmp_sock_dir / "busy.sock"
    with contextlib.ExitStack() as stack:
        busy = stack.enter_context(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
        busy.bind(os.fspath(path))
        busy.listen(0)
        assert _fill_backlog(stack, path) >= 1
        inode = os.lstat(path).st_ino
        with pytest.raises(AddressInUse, match="listening"):
            UnixListener.listen(path)
        assert os.lstat(path).st_ino == inode


def test_a_stale_datagram_file_is_replaced(tmp_sock_dir: Path) -> None:
    path = tmp_sock_dir / "dgram.sock"
    _leave_stale_socket(path, socket.SOCK_DGRAM)
    os.chmod(path, 0o644)  # to tell the new file from the old (inode numbers are reused)
    with UnixDatagramTransport.bind(path, timeout=TIMEOUT) as server:
        assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600
        with UnixDatagramTransport.connect(path, timeout=TIMEOUT) as client:
            client.send(b"hello")
            assert server.recv(16) == b"hello"
    assert not path.exists()


# -- modes ------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def test_the_mode_asked_for_beats_the_umask(tmp_sock_dir: Path) -> None:
    path = tmp_sock_dir / "open.sock"
    with _umask(0o077), UnixListener.listen(path, mode=0o666):
        assert stat.S_IMODE(os.lstat(path).st_mode) == 0o666


def test_mode_none_leaves_the_umask_in_charge(tmp_sock_dir: Path) -> None:
    path = tmp_sock_dir / "default.sock"
    with _umask(0o027), UnixListener.listen(path, mode=None):
        assert stat.S_IMODE(os.lstat(path).st_mode) == 0o750


# -- on close, only our own file goes ------------------------------------------------------------------


@pytest.mark.parametrize(("name", "start"), STARTS, ids=[name for name, _ in STARTS])
def test_close_spares_another_servers_socket(
    name: str, start: Callable[[Path], object], tmp_sock_dir: Path
) -> None:
    path = tmp_sock_dir / "shared.sock"
    ours = start(path)
    assert isinstance(ours, UnixListener | UnixSeqpacketListener | UnixDatagramTransport)
    with ours:
        # Someone removes our file and starts their own server at the path.
        path.unlink()
        with _rival_listener(path) as rival:
            ours.close()
            assert stat.S_ISSOCK(os.lstat(path).st_mode)
            assert _reaches(path, rival)
    assert path.exists()  # the rival's socket is not ours to remove either
    path.unlink()


@pytest.mark.parametrize(("name", "start"), STARTS, ids=[name for name, _ in STARTS])
def test_close_spares_a_symlink_put_in_place(
    name: str, start: Callable[[Path], object], tmp_sock_dir: Path
) -> None:
    path = tmp_sock_dir / "shared.sock"
    ours = start(path)
    assert isinstance(ours, UnixListener | UnixSeqpacketListener | UnixDatagramTransport)
    with ours:
        moved = tmp_sock_dir / "moved.sock"
        path.rename(moved)  # our very socket file, now reached through a link
        path.symlink_to(moved)
    assert path.is_symlink()
    assert stat.S_ISSOCK(os.lstat(moved).st_mode)


@pytest.mark.parametrize(("name", "start"), STARTS, ids=[name for name, _ in STARTS])
def test_close_after_our_file_was_removed(
    name: str, start: Callable[[Path], object], tmp_sock_dir: Path
) -> None:
    path = tmp_sock_dir / "gone.sock"
    ours = start(path)
    assert isinstance(ours, UnixListener | UnixSeqpacketListener | UnixDatagramTransport)
    with ours:
        path.unlink()
    assert list(tmp_sock_dir.iterdir()) == []


def test_datagram_client_name_is_removed_on_close(tmp_sock_dir: Path) -> None:
    server_path, client_path = tmp_sock_dir / "server.sock", tmp_sock_dir / "client.sock"
    _leave_stale_socket(client_path, socket.SOCK_DGRAM)  # a stale client name is reused
    with (
        UnixDatagramTransport.bind(server_path, timeout=TIMEOUT),
        UnixDatagramTransport.connect(server_path, local=client_path, timeout=TIMEOUT),
    ):
        assert stat.S_ISSOCK(os.lstat(client_path).st_mode)
    assert list(tmp_sock_dir.iterdir()) == []


# -- every error path: no descriptor leaks, no files left ------------------------------------------------


def _live_stream(path: Path) -> contextlib.AbstractContextManager[object]:
    return UnixListener.listen(path)


def _live_seqpacket(path: Path) -> contextlib.AbstractContextManager[object]:
    return UnixSeqpacketListener.listen(path)


def _live_datagram(path: Path) -> contextlib.AbstractContextManager[object]:
    return UnixDatagramTransport.bind(path)


def _stale(path: Path) -> contextlib.AbstractContextManager[object]:
    _leave_stale_socket(path)
    return contextlib.nullcontext()


def _regular_file(path: Path) -> contextlib.AbstractContextManager[object]:
    path.write_bytes(b"precious data")
    return contextlib.nullcontext()


def _nothing(path: Path) -> contextlib.AbstractContextManager[object]:
    return contextlib.nullcontext()


ERROR_PATHS = [
    # (what is at the path first, the call that must fail, the error)
    pytest.param(_live_stream, UnixListener.listen, AddressInUse, id="listen-on-live"),
    pytest.param(_live_datagram, UnixListener.listen, AddressInUse, id="listen-on-other-kind"),
    pytest.param(_regular_file, UnixSeqpacketListener.listen, AddressInUse, id="listen-on-file"),
    pytest.param(
        _nothing,
        lambda p: UnixListener.listen(p, options=[SO_BROADCAST(True)]),
        UnsupportedOption,
        id="listen-bad-option",
    ),
    pytest.param(_nothing, lambda p: UnixListener.listen(p, mode=0o1000), ValueError, id="listen-bad-mode"),
    pytest.param(
        _nothing,
        lambda p: UnixListener.listen(p, allowed_uids=["0"]),  # type: ignore[list-item]
        TypeError,
        id="listen-bad-allowed-uids",
    ),
    pytest.param(
        _nothing,
        lambda p: UnixListener.listen(p.parent / "missing-dir" / "x.sock"),
        TransportError,
        id="listen-in-missing-dir",
    ),
    pytest.param(_live_datagram, UnixDatagramTransport.bind, AddressInUse, id="bind-on-live"),
    pytest.param(_regular_file, UnixDatagramTransport.bind, AddressInUse, id="bind-on-file"),
    pytest.param(_stale, UnixStreamTransport.connect, ConnectionRefused, id="connect-to-stale"),
    pytest.param(_regular_file, UnixStreamTransport.connect, ConnectionRefused, id="connect-to-file"),
    pytest.param(_live_seqpacket, UnixStreamTransport.connect, TransportError, id="connect-wrong-kind"),
    pytest.param(_live_stream, UnixSeqpacketTransport.connect, TransportError, id="seqpacket-to-stream"),
    pytest.param(
        _nothing,
        lambda p: UnixDatagramTransport.connect(p, local=p.with_name("client.sock")),
        TransportError,
        id="datagram-connect-to-nobody",
    ),
    pytest.param(
        _live_datagram,
        lambda p: UnixDatagramTransport.connect(p, local=p),
        AddressInUse,
        id="datagram-local-is-live",
    ),
]


@pytest.mark.parametrize(("prepare", "call", "error"), ERROR_PATHS)
def test_error_paths_leak_nothing(
    prepare: Callable[[Path], contextlib.AbstractContextManager[object]],
    call: Callable[[Path], object],
    error: type[Exception],
    tmp_sock_dir: Path,
    fd_count: Callable[[], int],
) -> None:
    path = tmp_sock_dir / "target.sock"
    with prepare(path):
        files = _snapshot(tmp_sock_dir)
        before = fd_count()
        with pytest.raises(error) as info:
            call(path)
        assert fd_count() == before, f"a descriptor leaked on {info.value!r}"
        assert _snapshot(tmp_sock_dir) == files, "a file was made, removed or changed"


def test_connect_refusals_name_their_cause(tmp_sock_dir: Path) -> None:
    path = tmp_sock_dir / "packet.sock"
    with UnixSeqpacketListener.listen(path):
        with pytest.raises(TransportError) as info:
            UnixStreamTransport.connect(path, timeout=TIMEOUT)
    assert info.value.errno == errno.EPROTOTYPE
    assert os.fspath(path) in str(info.value)


def test_listening_in_a_missing_directory_says_so(tmp_sock_dir: Path) -> None:
    path = tmp_sock_dir / "no" / "such" / "dir.sock"
    with pytest.raises(TransportError, match="does not exist") as info:
        UnixListener.listen(path)
    assert info.value.errno == errno.ENOENT
    assert "is the server running" not in str(info.value)
