"""Real faults on real sockets: resets, vanishing peers, timeouts, signals, no descriptors, a full disk.

``tests/test_faults.py`` covers the fault-injecting wrapper that users put
in their own tests; here the kernel makes the faults. Each test checks the
error is clear, the counts it carries (``bytes_sent``, ``partial``) match
what the peer really got, and no descriptor is left behind.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from conftest import TIMEOUT, Background, Pair, assert_no_fd_leak, make_pair
from transports import (
    BrokenPipe,
    ConnectionRefused,
    ConnectionReset,
    LineStream,
    MessageStream,
    TCPListener,
    TCPTransport,
    TransportClosed,
    TransportError,
    TransportTimeout,
    UDPTransport,
    UnixDatagramTransport,
    UnixListener,
    UnixSeqpacketListener,
    UnixSeqpacketTransport,
    UnixStreamTransport,
    WouldBlock,
)
from transports.options import SO_LINGER, Linger

KiB = 1024
MiB = 1024 * KiB
#: The timeout of the "every blocking call" table, and how long such a call may take at most.
SHORT = 0.05
QUICKLY = 2.0


def payload(size: int, seed: int = 10) -> bytes:
    return random.Random(seed).randbytes(size)


@contextlib.contextmanager
def tcp_ends() -> Iterator[tuple[TCPTransport, TCPTransport]]:
    with TCPListener.listen("127.0.0.1", 0, timeout=TIMEOUT) as listener:
        with TCPTransport.connect("127.0.0.1", listener.address.port, timeout=TIMEOUT) as a:
            with listener.accept() as b:
                b.timeout = TIMEOUT
                yield a, b


@contextlib.contextmanager
def unix_ends() -> Iterator[tuple[UnixStreamTransport, UnixStreamTransport]]:
    a, b = UnixStreamTransport.pair()
    with a, b:
        a.timeout = b.timeout = TIMEOUT
        yield a, b


def stream_ends(kind: str) -> contextlib.AbstractContextManager[Any]:
    return tcp_ends() if kind == "tcp" else unix_ends()


def vanish(transport: TCPTransport | UnixStreamTransport) -> None:
    """Close *transport* so its peer sees the connection torn down (a reset on TCP)."""
    if isinstance(transport, TCPTransport):
        transport.set_option(SO_LINGER, Linger(0))  # close sends RST instead of FIN
    transport.close()


# -- the peer resets in the middle of a call ----------------------------------------------


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_peer_reset_mid_send_all(kind: str, background: Background) -> None:
    data = payload(16 * MiB)
    with assert_no_fd_leak(), stream_ends(kind) as (sender, receiver):
        task = background.start(lambda: sender.send_all(data), "send_all")
        got = receiver.recv_exactly(256 * KiB)  # the transfer is under way
        vanish(receiver)
        with pytest.raises((ConnectionReset, BrokenPipe)) as info:
            task.result()
    err = info.value
    assert err.op == "send_all"
    assert err.bytes_sent is not None
    # The peer read a prefix of the data, and the count covers it; the rest was
    # taken by the kernel but thrown away with the connection.
    assert got == data[: len(got)]
    assert len(got) <= err.bytes_sent < len(data)
    assert f"after {err.bytes_sent} bytes" in str(err)


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_peer_reset_mid_sendfile_counts_what_the_peer_got(
    kind: str, tmp_path: Path, background: Background
) -> None:
    # test_sendfile checks the bounds of bytes_sent; here the bytes themselves.
    data = payload(32 * MiB, seed=11)
    path = tmp_path / "source.bin"
    path.write_bytes(data)
    with assert_no_fd_leak(), stream_ends(kind) as (sender, receiver):
        task = background.start(lambda: sender.sendfile(path), "sendfile")
        got = receiver.recv_exactly(300 * KiB)
        vanish(receiver)
        with pytest.raises((ConnectionReset, BrokenPipe)) as info:
            task.result()
    assert got == data[: len(got)]
    assert info.value.op == "sendfile"
    assert info.value.bytes_sent is not None
    assert len(got) <= info.value.bytes_sent < len(data)


def test_peer_reset_mid_recv_exactly_keeps_what_arrived(background: Background) -> None:
    data = payload(100 * KiB, seed=12)
    with assert_no_fd_leak(), tcp_ends() as (sender, receiver):
        task = background.start(lambda: receiver.recv_exactly(MiB), "recv_exactly")
        sender.send_all(data)
        vanish(sender)
        with pytest.raises(ConnectionReset) as info:
            task.result()
    err = info.value
    assert err.op == "recv_exactly"
    assert err.partial is not None
    # Whatever the kernel delivered before the reset is handed back, in order, never invented.
    assert err.partial == data[: len(err.partial)]


def test_peer_closes_mid_recv_exactly_on_unix(background: Background) -> None:
    # A Unix stream has no reset: the peer's close is an early end of stream.
    data = payload(100 * KiB, seed=13)
    with assert_no_fd_leak(), unix_ends() as (sender, receiver):
        task = background.start(lambda: receiver.recv_exactly(MiB), "recv_exactly")
        sender.send_all(data)
        sender.close()
        with pytest.raises(EOFError) as info:
            task.result()
    assert getattr(info.value, "partial", None) == data


# -- the peer vanishes while we connect ----------------------------------------------------


def test_listener_closed_with_a_full_backlog_while_connecting(background: Background) -> None:
    # Backlog 0: one finished handshake fills the queue and further SYNs are dropped,
    # so the next connect is left waiting; then the listener goes away.
    with assert_no_fd_leak():
        listener = TCPListener.listen("127.0.0.1", 0, backlog=0)
        port = listener.address.port
        with listener, TCPTransport.connect("127.0.0.1", port, timeout=TIMEOUT):
            task = background.start(lambda: TCPTransport.connect("127.0.0.1", port, timeout=1.5), "connect")
            listener.close()
            with pytest.raises((ConnectionRefused, TransportTimeout, ConnectionReset)) as info:
                task.result()
    assert info.value.op == "connect"
    assert f"tcp://127.0.0.1:{port}" in str(info.value)


def test_unix_path_removed_before_connect(tmp_sock_dir: Path) -> None:
    path = tmp_sock_dir / "gone.sock"
    with assert_no_fd_leak(), UnixListener.listen(path, timeout=TIMEOUT):
        path.unlink()  # the server is alive, but nobody can find it any more
        with pytest.raises(TransportError) as info:
            UnixStreamTransport.connect(path, timeout=TIMEOUT)
    assert info.value.errno == errno.ENOENT
    assert str(path) in str(info.value)


def test_unix_connect_to_a_full_backlog_waits_for_its_timeout(tmp_sock_dir: Path) -> None:
    # Linux answers EAGAIN at once to a non-blocking Unix connect whose listener's
    # queue is full; a connect with a timeout must wait that long, as TCP does.
    path = tmp_sock_dir / "full.sock"
    with assert_no_fd_leak(), UnixListener.listen(path, backlog=0):
        with UnixStreamTransport.connect(path, timeout=TIMEOUT):
            started = time.monotonic()
            with pytest.raises(TransportTimeout) as info:
                UnixStreamTransport.connect(path, timeout=0.3)
            assert 0.25 < time.monotonic() - started < QUICKLY
            assert isinstance(info.value, TimeoutError)
            assert "queue stayed full" in str(info.value)
            with pytest.raises(WouldBlock):
                UnixStreamTransport.connect(path, timeout=0)  # non-blocking: says so at once


# -- the listener closes while accept blocks ------------------------------------------------


@pytest.mark.parametrize("kind", ["unix", "unixpacket"])
def test_closing_a_unix_listener_wakes_a_blocked_accept(
    kind: str, tmp_sock_dir: Path, background: Background
) -> None:
    # test_tcp covers TCP; the Unix kinds must wake the same way.
    cls = UnixListener if kind == "unix" else UnixSeqpacketListener
    path = tmp_sock_dir / f"{kind}.sock"
    with assert_no_fd_leak():
        listener = cls.listen(path, timeout=TIMEOUT)
        task = background.start(listener.accept, "accept")
        listener.close()
        started = time.monotonic()
        with pytest.raises(TransportClosed) as info:
            task.result()
        assert time.monotonic() - started < QUICKLY
    assert info.value.op == "accept"
    assert not path.exists()


# -- a timeout at every blocking call ------------------------------------------------------------


def _fill(transport: Any) -> None:
    """Fill the send buffer of *transport* so that the next send blocks."""
    sock = transport.raw_socket
    chunk = bytes(64 * KiB if transport.kind.value == "stream" else 1)
    timeout = sock.gettimeout()
    sock.settimeout(0)  # fail at once when full (a timeout would wait first)
    try:
        with contextlib.suppress(BlockingIOError):
            while True:
                sock.send(chunk)
    finally:
        sock.settimeout(timeout)


Blocking = Callable[[Pair, Path], Callable[[], object]]


def _sendfile(pair: Pair, tmp: Path) -> Callable[[], object]:
    path = tmp / "big.bin"
    with open(path, "wb") as f:
        f.truncate(64 * MiB)
    return lambda: pair.a.sendfile(path)  # type: ignore[attr-defined]


def _recv_into_file(pair: Pair, tmp: Path) -> Callable[[], object]:
    return lambda: pair.b.recv_into_file(tmp / "out.bin", 10)  # type: ignore[attr-defined]


def _stream_send(pair: Pair, tmp: Path) -> Callable[[], object]:
    _fill(pair.a)
    return lambda: pair.a.send(bytes(64 * KiB if pair.is_stream else 1))


def _stream_send_all(pair: Pair, tmp: Path) -> Callable[[], object]:
    return lambda: pair.a.send_all(bytes(64 * MiB))  # type: ignore[attr-defined]


def _send_fds(pair: Pair, tmp: Path) -> Callable[[], object]:
    _fill(pair.a)
    return lambda: pair.a.send_fds(b"x", [0])  # type: ignore[attr-defined]


def _framed_send(pair: Pair, tmp: Path) -> Callable[[], object]:
    _fill(pair.a)
    return lambda: MessageStream(pair.a).send_message(bytes(64 * KiB))  # type: ignore[arg-type]


#: Each blocking call: (name, pairs it runs on, how to make it block).
BLOCKING: list[tuple[str, list[str], Blocking]] = [
    ("recv", ["tcp4", "unix", "udp4", "unixgram-bound", "unixpacket"], lambda p, t: lambda: p.b.recv(10)),
    (
        "recv_into",
        ["tcp4", "unix", "udp4", "unixgram-bound", "unixpacket"],
        lambda p, t: lambda: p.b.recv_into(bytearray(10)),
    ),
    ("recv_exactly", ["tcp4", "unix"], lambda p, t: lambda: p.b.recv_exactly(10)),  # type: ignore[attr-defined]
    ("recv_from", ["udp4", "unixgram-bound"], lambda p, t: lambda: p.b.recv_from(10)),  # type: ignore[attr-defined]
    (
        "recv_fds",
        ["unix", "unixgram-bound", "unixpacket"],
        lambda p, t: lambda: p.b.recv_fds(10, 1),  # type: ignore[attr-defined]
    ),
    ("recv_into_file", ["tcp4", "unix"], _recv_into_file),
    ("send", ["tcp4", "unix", "unixgram-socketpair", "unixpacket"], _stream_send),
    ("send_all", ["tcp4", "unix"], _stream_send_all),
    ("send_fds", ["unix", "unixgram-socketpair", "unixpacket"], _send_fds),
    ("sendfile", ["tcp4", "unix"], _sendfile),
    ("MessageStream.recv_message", ["tcp4", "unix"], lambda p, t: MessageStream(p.b).recv_message),  # type: ignore[arg-type]
    ("LineStream.recv_message", ["tcp4", "unix"], lambda p, t: LineStream(p.b).recv_message),  # type: ignore[arg-type]
    ("MessageStream.send_message", ["tcp4", "unix"], _framed_send),
]

BLOCKING_CASES = [
    pytest.param(name, pair_name, make, id=f"{name}-{pair_name}")
    for name, pair_names, make in BLOCKING
    for pair_name in pair_names
]


@pytest.mark.parametrize(("name", "pair_name", "make"), BLOCKING_CASES)
def test_every_blocking_call_times_out(name: str, pair_name: str, make: Blocking, tmp_sock_dir: Path) -> None:
    with assert_no_fd_leak(), contextlib.ExitStack() as stack:
        pair = make_pair(pair_name, stack, tmp_sock_dir)
        call = make(pair, tmp_sock_dir)
        pair.a.timeout = pair.b.timeout = SHORT
        started = time.monotonic()
        with pytest.raises(TransportTimeout) as info:
            call()
        took = time.monotonic() - started
    assert took < QUICKLY, f"{name} took {took:.2f} s with a timeout of {SHORT} s"
    assert isinstance(info.value, TimeoutError)
    assert f"{SHORT:g} s" in str(info.value)


@pytest.mark.parametrize("listener_kind", ["tcp", "unix", "unixpacket"])
def test_accept_times_out(listener_kind: str, tmp_sock_dir: Path) -> None:
    with assert_no_fd_leak():
        if listener_kind == "tcp":
            listener: Any = TCPListener.listen("127.0.0.1", 0, timeout=SHORT)
        elif listener_kind == "unix":
            listener = UnixListener.listen(tmp_sock_dir / "a.sock", timeout=SHORT)
        else:
            listener = UnixSeqpacketListener.listen(tmp_sock_dir / "a.sock", timeout=SHORT)
        with listener:
            started = time.monotonic()
            with pytest.raises(TransportTimeout):
                listener.accept()
            assert time.monotonic() - started < QUICKLY


def test_connect_times_out() -> None:
    with TCPListener.listen("127.0.0.1", 0, backlog=0) as listener:
        port = listener.address.port
        with TCPTransport.connect("127.0.0.1", port, timeout=TIMEOUT), assert_no_fd_leak():
            started = time.monotonic()
            with pytest.raises(TransportTimeout):
                TCPTransport.connect("127.0.0.1", port, timeout=SHORT)
            assert time.monotonic() - started < QUICKLY


def test_the_table_covers_every_blocking_method() -> None:
    # A new blocking method must join the table above.
    names = {name.split(".")[-1] for name, _, _ in BLOCKING}
    for cls in (
        TCPTransport,
        UnixStreamTransport,
        UnixSeqpacketTransport,
        UnixDatagramTransport,
        UDPTransport,
    ):
        for method in ("recv", "recv_into", "recv_exactly", "recv_from", "recv_fds", "send", "send_all"):
            if hasattr(cls, method):
                assert method in names, method
    for method in ("sendfile", "recv_into_file", "send_fds", "send_message", "recv_message"):
        assert method in names


# -- signals: EINTR is retried (PEP 475), a raising handler loses nothing -------------------------------


class Interrupted(Exception):
    """What the test's signal handler raises."""


class Alarms:
    """A SIGALRM handler for the main thread: counts, raises at one hit, lets the peer go at another.

    The peer thread waits on :attr:`go` instead of sleeping: the call under
    test stays blocked (and so keeps being interrupted) until enough signals
    have arrived.
    """

    def __init__(self, release_at: int, raise_at: int | None = None) -> None:
        self.hits = 0
        self.release_at = release_at
        self.raise_at = raise_at
        self.go = threading.Event()
        self._released = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.hits += 1
        if self.hits >= self.release_at or self.hits == self.raise_at:
            self._release()
        if self.hits == self.raise_at:
            raise Interrupted

    def _release(self) -> None:
        # Once only, and marked before Event.set: the next alarm may land inside
        # set() itself, and a nested handler must not enter it again.
        if not self._released:
            self._released = True
            self.go.set()

    def wait(self) -> None:
        assert self.go.wait(TIMEOUT), "no signal reached the blocked call"


@contextlib.contextmanager
def interval_timer(handler: Callable[[int, FrameType | None], Any], every: float) -> Iterator[None]:
    """SIGALRM every *every* seconds to the main thread while the block runs."""
    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, every, every)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _drain(transport: Any) -> bytes:
    """Everything until end of stream."""
    chunks = []
    while chunk := transport.recv(MiB):
        chunks.append(chunk)
    return b"".join(chunks)


def _drain_when(alarms: Alarms, transport: Any) -> bytes:
    alarms.wait()
    return _drain(transport)


def _send_when(alarms: Alarms, transport: Any, data: bytes, first: int) -> None:
    """Send *first* bytes, wait for the signals, send the rest and end the stream."""
    transport.send_all(data[:first])
    alarms.wait()
    transport.send_all(data[first:])
    transport.shutdown("write")


@pytest.mark.parametrize("timeout", [TIMEOUT, None], ids=["timeout", "blocking"])
@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_send_all_survives_signals(kind: str, timeout: float | None, background: Background) -> None:
    data = payload(16 * MiB, seed=20)
    alarms = Alarms(release_at=5)
    with assert_no_fd_leak(), stream_ends(kind) as (sender, receiver):
        sender.timeout = timeout
        task = background.start(lambda: _drain_when(alarms, receiver), "reader")
        with interval_timer(alarms, 0.002):
            sender.send_all(data)  # blocks on full buffers until the reader starts
        sender.shutdown("write")
        got = task.result()
    assert alarms.hits >= 5
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()


@pytest.mark.parametrize("timeout", [TIMEOUT, None], ids=["timeout", "blocking"])
@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_recv_exactly_survives_signals(kind: str, timeout: float | None, background: Background) -> None:
    data = payload(4 * MiB, seed=21)
    alarms = Alarms(release_at=5)
    with assert_no_fd_leak(), stream_ends(kind) as (sender, receiver):
        receiver.timeout = timeout
        task = background.start(lambda: _send_when(alarms, sender, data, 64 * KiB), "sender")
        with interval_timer(alarms, 0.002):
            got = receiver.recv_exactly(len(data))
        task.result()
    assert alarms.hits >= 5
    assert got == data


@pytest.mark.parametrize("timeout", [TIMEOUT, None], ids=["timeout", "blocking"])
@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_a_raising_handler_in_send_all_keeps_the_count(
    kind: str, timeout: float | None, background: Background
) -> None:
    data = payload(16 * MiB, seed=22)
    alarms = Alarms(release_at=10**9, raise_at=3)
    with assert_no_fd_leak(), stream_ends(kind) as (sender, receiver):
        sender.timeout = timeout
        task = background.start(lambda: _drain_when(alarms, receiver), "reader")
        with interval_timer(alarms, 0.002), pytest.raises(Interrupted) as info:
            sender.send_all(data)
        sender.shutdown("write")
        got = task.result()
    sent = getattr(info.value, "bytes_sent", None)
    assert sent is not None, "send_all lost its count when a signal handler raised"
    assert any(f"{sent} of {len(data)} bytes" in note for note in info.value.__notes__)
    # Exactly the counted bytes arrived: none lost, none twice.
    assert len(got) == sent
    assert got == data[:sent]


@pytest.mark.parametrize("timeout", [TIMEOUT, None], ids=["timeout", "blocking"])
@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_a_raising_handler_in_recv_exactly_keeps_the_data(
    kind: str, timeout: float | None, background: Background
) -> None:
    data = payload(4 * MiB, seed=23)
    alarms = Alarms(release_at=10**9, raise_at=3)
    with assert_no_fd_leak(), stream_ends(kind) as (sender, receiver):
        receiver.timeout = timeout
        task = background.start(lambda: _send_when(alarms, sender, data, 64 * KiB), "sender")
        with interval_timer(alarms, 0.002), pytest.raises(Interrupted) as info:
            receiver.recv_exactly(len(data))
        partial = getattr(info.value, "partial", None)
        assert partial is not None, "recv_exactly lost what had arrived when a signal handler raised"
        rest = _drain(receiver)
        task.result()
    assert len(partial) >= 64 * KiB
    assert partial + rest == data


# -- no descriptors left (EMFILE), no room in the file (EFBIG) ------------------------------------------

EMFILE_CHILD = textwrap.dedent(
    """
    import errno, json, os, resource, sys
    import transports
    from transports import (TCPListener, TCPTransport, UnixListener, UnixStreamTransport,
                            UnixDatagramTransport, FdsTruncated, TransportError)

    directory = sys.argv[1]
    results = {}

    def fds():
        # Without opening anything: at the limit, listing /proc/self/fd would fail.
        found = []
        for fd in range(resource.getrlimit(resource.RLIMIT_NOFILE)[0] + 16):
            try:
                os.fstat(fd)
            except OSError:
                continue
            found.append(fd)
        return found

    def attempt(name, call):
        before = fds()
        try:
            made = call()
        except TransportError as exc:
            results[name] = [type(exc).__name__, exc.errno, str(exc), before == fds()]
        except Exception as exc:
            results[name] = ["unexpected " + type(exc).__name__, None, str(exc), before == fds()]
        else:
            results[name] = ["no error", None, repr(made), False]

    listener = TCPListener.listen("127.0.0.1", 0, timeout=5)
    port = listener.address.port
    waiting = TCPTransport.connect("127.0.0.1", port, timeout=5)
    a, b = UnixStreamTransport.pair()
    b.timeout = 5
    r, w = os.pipe()
    a.send_fds(b"x", [r, w])

    # Use up every descriptor the limit allows.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    highest = max(map(int, os.listdir("/proc/self/fd")))
    resource.setrlimit(resource.RLIMIT_NOFILE, (highest + 8, hard))
    filler = []
    while True:
        try:
            filler.append(os.open(os.devnull, os.O_RDONLY))
        except OSError as exc:
            assert exc.errno == errno.EMFILE
            break

    attempt("connect", lambda: TCPTransport.connect("127.0.0.1", port, timeout=5))
    attempt("listen", lambda: TCPListener.listen("127.0.0.1", 0))
    attempt("accept", listener.accept)
    attempt("socketpair", transports.socketpair)
    attempt("unix listen", lambda: UnixListener.listen(os.path.join(directory, "s.sock")))
    attempt("unixgram bind", lambda: UnixDatagramTransport.bind(os.path.join(directory, "d.sock")))
    before = fds()
    try:
        b.recv_fds(10, 4)
    except FdsTruncated as exc:
        results["recv_fds"] = ["FdsTruncated", exc.received, str(exc), before == fds()]
    except Exception as exc:
        results["recv_fds"] = ["unexpected " + type(exc).__name__, None, str(exc), before == fds()]

    # One descriptor free: a socketpair needs two, a Unix listener a socket and a lock file.
    os.close(filler.pop())
    attempt("socketpair, one free", transports.socketpair)
    attempt("unix listen, one free", lambda: UnixListener.listen(os.path.join(directory, "s.sock")))

    # With room again, everything works: no half-made state was left.
    for fd in filler:
        os.close(fd)
    with listener.accept() as conn:
        results["accept afterwards"] = conn.remote_address == waiting.local_address
    with UnixListener.listen(os.path.join(directory, "s.sock")):
        results["unix listen afterwards"] = sorted(os.listdir(directory))
    results["files left"] = sorted(os.listdir(directory))
    for t in (waiting, listener, a, b):
        t.close()
    os.close(r)
    os.close(w)
    print(json.dumps(results))
    """
)


def test_running_out_of_descriptors(tmp_sock_dir: Path) -> None:
    # In a child: lowering RLIMIT_NOFILE here would starve pytest.
    result = subprocess.run(
        [sys.executable, "-c", EMFILE_CHILD, str(tmp_sock_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    results = json.loads(result.stdout)
    for name in (
        "connect",
        "listen",
        "accept",
        "socketpair",
        "unix listen",
        "unixgram bind",
        "socketpair, one free",
        "unix listen, one free",
    ):
        cls, code, message, unchanged = results[name]
        assert cls == "TransportError", (name, cls, message)
        assert code == errno.EMFILE, (name, message)
        assert "EMFILE" in message, (name, message)
        assert unchanged, f"{name}: the descriptor set changed"
    cls, received, message, unchanged = results["recv_fds"]
    # The kernel could not install the descriptors: it drops them and says MSG_CTRUNC.
    assert cls == "FdsTruncated", message
    assert received == 0
    assert unchanged
    assert results["accept afterwards"] is True
    assert results["unix listen afterwards"] == ["s.sock"]
    assert results["files left"] == []


EFBIG_CHILD = textwrap.dedent(
    """
    import json, os, resource, signal, sys, threading
    from transports import FileWriteError, UnixStreamTransport

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills us at the limit
    LIMIT = 100_000
    path, how = sys.argv[1], sys.argv[2]
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    data = os.urandom(300_000)
    a, b = UnixStreamTransport.pair()
    b.timeout = 5
    sender = threading.Thread(target=lambda: (a.send_all(data), a.shutdown("write")))
    sender.start()
    before = sorted(os.listdir("/proc/self/fd"))
    out = {}
    try:
        if how == "splice":
            b.recv_into_file(path)
        else:  # O_APPEND makes splice(2) refuse the file: the copy loop runs
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND)
            try:
                b.recv_into_file(fd)
            finally:
                os.close(fd)
    except FileWriteError as exc:
        out = {
            "error": type(exc).__name__, "errno": exc.errno, "written": exc.written,
            "received": exc.received, "message": str(exc),
        }
        partial = exc.partial
    rest = b""
    while chunk := b.recv(1 << 20):
        rest += chunk
    sender.join(5)
    out["size"] = os.path.getsize(path)
    out["file matches"] = open(path, "rb").read() == data[:out["size"]]
    out["rest matches"] = open(path, "rb").read() + partial + rest == data
    out["fds unchanged"] = before == sorted(os.listdir("/proc/self/fd"))
    a.close()
    b.close()
    print(json.dumps(out))
    """
)


@pytest.mark.parametrize("how", ["splice", "copy loop"])
def test_disk_full_while_receiving_into_a_file(how: str, tmp_path: Path) -> None:
    path = tmp_path / "out.bin"
    result = subprocess.run(
        [sys.executable, "-c", EFBIG_CHILD, str(path), how.split(maxsplit=1)[0]],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["error"] == "FileWriteError", out
    assert out["errno"] == errno.EFBIG
    assert out["size"] == 100_000
    assert out["written"] == out["size"], "the error must say how many bytes reached the file"
    assert out["received"] >= out["written"]
    assert "100000 reached the file" in out["message"]
    assert out["file matches"]
    assert out["rest matches"]
    assert out["fds unchanged"]
