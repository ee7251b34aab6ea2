"""Shared fixtures: connected pairs of every kind, short socket directories, fd counts, threads.

Everything here uses real sockets on loopback (127.0.0.1, ::1) or Unix
sockets in a private directory under /tmp; every transport gets a timeout so
that no test can hang.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

import attrs
import pytest

from transports import (
    InetAddress,
    Kind,
    TCPListener,
    TCPTransport,
    Transport,
    UDPTransport,
    UnixDatagramTransport,
    UnixListener,
    UnixSeqpacketListener,
    UnixSeqpacketTransport,
    UnixStreamTransport,
)

T = TypeVar("T")

#: Seconds any single blocking call in the tests may wait.
TIMEOUT = 5.0


def _has_ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


#: Whether ::1 can be bound here (containers sometimes run without IPv6).
HAS_IPV6 = _has_ipv6_loopback()
needs_ipv6 = pytest.mark.skipif(not HAS_IPV6, reason="IPv6 loopback (::1) is not available")


# -- Unix socket directories ----------------------------------------------------


@pytest.fixture
def tmp_sock_dir() -> Iterator[Path]:
    """A fresh, short directory for Unix socket paths (sun_path holds only 107 bytes).

    pytest's ``tmp_path`` can be longer than that, so this lives directly
    under /tmp; it is removed with everything in it after the test.
    """
    path = Path(tempfile.mkdtemp(prefix="tt-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def abstract_name() -> str:
    """A Linux abstract socket name no other test run uses."""
    return f"typed-transports-test-{uuid.uuid4().hex}"


# -- file descriptors -------------------------------------------------------------


def open_fd_count() -> int:
    """How many file descriptors this process has open (Linux /proc)."""
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def fd_count() -> Callable[[], int]:
    """A function counting this process's open descriptors; skips where /proc is missing."""
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc/self/fd to count descriptors")
    return open_fd_count


def open_fds() -> dict[int, str]:
    """This process's open descriptors and what each points at (Linux /proc)."""
    found: dict[int, str] = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            found[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue  # the descriptor listdir itself used, closed by now
    return found


@contextlib.contextmanager
def assert_no_fd_leak() -> Iterator[None]:
    """Fail if the block leaves a descriptor open that was not open before it.

    Compares the set of descriptors (and what they point at), not only their
    number, so a leak hidden by an unrelated close is still caught. Use it
    around an error path: the exception the block raises is re-raised after
    the check passes, for ``pytest.raises`` outside it. Skips without /proc.
    """
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc/self/fd to list descriptors")
    before = open_fds()
    try:
        yield
    finally:
        after = open_fds()
        leaked = {fd: target for fd, target in after.items() if before.get(fd) != target}
        assert not leaked, f"descriptors left open: {leaked}"


@pytest.fixture(scope="session", autouse=True)
def _suite_leaves_no_descriptors_or_threads() -> Iterator[None]:
    """The whole run ends with the descriptors and threads it started with.

    Sockets only: pytest's own files (captured output, plugins' caches)
    may come and go, and libuv (under uvloop) keeps a pipe and an eventfd
    for the whole process once a loop has run; tests of code that opens
    pipes use :func:`assert_no_fd_leak`. Thread names are listed to find a
    culprit.
    """
    if not os.path.isdir("/proc/self/fd"):
        yield
        return
    before = {fd for fd, target in open_fds().items() if target.startswith("socket:")}
    threads = {t.ident for t in threading.enumerate()}
    yield
    left = {fd: t for fd, t in open_fds().items() if t.startswith("socket:") and fd not in before}
    extra = [t.name for t in threading.enumerate() if t.ident not in threads and t.is_alive()]
    assert not left, f"the test suite left descriptors open: {left}"
    assert not extra, f"the test suite left threads running: {extra}"


# -- background threads -------------------------------------------------------------


class Task(Generic[T]):
    """A function running in a daemon thread; :meth:`result` joins it with a timeout."""

    def __init__(self, func: Callable[[], T], name: str) -> None:
        self._func = func
        self._value: T | None = None
        self._error: BaseException | None = None
        self._collected = False
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        try:
            self._value = self._func()
        except BaseException as exc:  # handed to the test thread by result()
            self._error = exc

    def join(self, timeout: float = TIMEOUT) -> None:
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise AssertionError(f"thread {self.thread.name} still running after {timeout} s")

    def result(self, timeout: float = TIMEOUT) -> T:
        """Wait for the thread and return its value, or raise what it raised."""
        self.join(timeout)
        self._collected = True
        if self._error is not None:
            raise self._error
        return cast(T, self._value)

    @property
    def pending_error(self) -> BaseException | None:
        """An exception nobody collected with :meth:`result`."""
        return None if self._collected else self._error


class Background:
    """Starts tasks for one test and makes sure every one has ended by teardown."""

    def __init__(self) -> None:
        self._tasks: list[Task[Any]] = []

    def start(self, func: Callable[[], T], name: str = "test-helper") -> Task[T]:
        task = Task(func, name)
        self._tasks.append(task)
        task.thread.start()
        return task

    def finish(self) -> None:
        for task in self._tasks:
            task.join()
        for task in self._tasks:
            error = task.pending_error
            if error is not None:
                raise AssertionError(f"thread {task.thread.name} failed") from error


@pytest.fixture
def background() -> Iterator[Background]:
    """Run helpers (a sender, an acceptor) in threads that must end before the test does."""
    helper = Background()
    try:
        yield helper
    finally:
        helper.finish()


# -- connected pairs of every kind ----------------------------------------------------


@attrs.frozen
class Pair:
    """Two connected transports of one kind: what ``a`` sends, ``b`` receives and back."""

    name: str
    a: Transport
    b: Transport
    family: int

    @property
    def kind(self) -> Kind:
        return self.a.kind

    @property
    def is_stream(self) -> bool:
        return self.a.kind is Kind.STREAM


def _tcp_pair(stack: contextlib.ExitStack, host: str) -> tuple[Transport, Transport]:
    with TCPListener.listen(host, 0, timeout=TIMEOUT) as listener:
        address = listener.address
        assert isinstance(address, InetAddress)
        a = stack.enter_context(TCPTransport.connect(host, address.port, timeout=TIMEOUT))
        b = stack.enter_context(listener.accept())
    return a, b


def _udp_pair(stack: contextlib.ExitStack, host: str) -> tuple[Transport, Transport]:
    b = stack.enter_context(UDPTransport.bind(host, 0, timeout=TIMEOUT))
    b_address = b.local_address
    assert isinstance(b_address, InetAddress)
    a = stack.enter_context(
        UDPTransport.connect(host, b_address.port, source=InetAddress(host, 0), timeout=TIMEOUT)
    )
    # The transport has no method to fix the peer of a bound socket: use the raw socket.
    b.raw_socket.connect(a.raw_socket.getsockname())
    return a, b


def _unix_stream_pair(stack: contextlib.ExitStack, directory: Path) -> tuple[Transport, Transport]:
    with UnixListener.listen(directory / "stream.sock", timeout=TIMEOUT) as listener:
        a = stack.enter_context(UnixStreamTransport.connect(directory / "stream.sock", timeout=TIMEOUT))
        b = stack.enter_context(listener.accept())
    return a, b


def _seqpacket_pair(stack: contextlib.ExitStack, directory: Path) -> tuple[Transport, Transport]:
    with UnixSeqpacketListener.listen(directory / "packet.sock", timeout=TIMEOUT) as listener:
        a = stack.enter_context(UnixSeqpacketTransport.connect(directory / "packet.sock", timeout=TIMEOUT))
        b = stack.enter_context(listener.accept())
    return a, b


def _unixgram_bound_pair(stack: contextlib.ExitStack, directory: Path) -> tuple[Transport, Transport]:
    server_path, client_path = directory / "server.sock", directory / "client.sock"
    b = stack.enter_context(UnixDatagramTransport.bind(server_path, timeout=TIMEOUT))
    a = stack.enter_context(UnixDatagramTransport.connect(server_path, local=client_path, timeout=TIMEOUT))
    b.raw_socket.connect(os.fspath(client_path))
    return a, b


def _socketpair(stack: contextlib.ExitStack, kind: Kind) -> tuple[Transport, Transport]:
    classes: dict[Kind, type[UnixStreamTransport | UnixDatagramTransport | UnixSeqpacketTransport]] = {
        Kind.STREAM: UnixStreamTransport,
        Kind.DATAGRAM: UnixDatagramTransport,
        Kind.SEQPACKET: UnixSeqpacketTransport,
    }
    a, b = classes[kind].pair()
    stack.enter_context(a)
    stack.enter_context(b)
    return a, b


#: The connected pairs the contract suite runs against, by kind.
STREAM_PAIRS = ["tcp4", "tcp6", "unix", "unix-socketpair"]
DATAGRAM_PAIRS = ["udp4", "udp6", "unixgram-socketpair", "unixgram-bound"]
SEQPACKET_PAIRS = ["unixpacket", "unixpacket-socketpair"]
PAIR_NAMES = STREAM_PAIRS + DATAGRAM_PAIRS + SEQPACKET_PAIRS


def make_pair(name: str, stack: contextlib.ExitStack, directory: Path) -> Pair:
    """Build the connected pair called *name*; *stack* closes both ends."""
    if name.endswith("6") and not HAS_IPV6:
        pytest.skip("IPv6 loopback (::1) is not available")
    builders: dict[str, Callable[[], tuple[Transport, Transport]]] = {
        "tcp4": lambda: _tcp_pair(stack, "127.0.0.1"),
        "tcp6": lambda: _tcp_pair(stack, "::1"),
        "unix": lambda: _unix_stream_pair(stack, directory),
        "unix-socketpair": lambda: _socketpair(stack, Kind.STREAM),
        "udp4": lambda: _udp_pair(stack, "127.0.0.1"),
        "udp6": lambda: _udp_pair(stack, "::1"),
        "unixgram-socketpair": lambda: _socketpair(stack, Kind.DATAGRAM),
        "unixgram-bound": lambda: _unixgram_bound_pair(stack, directory),
        "unixpacket": lambda: _seqpacket_pair(stack, directory),
        "unixpacket-socketpair": lambda: _socketpair(stack, Kind.SEQPACKET),
    }
    a, b = builders[name]()
    a.timeout = TIMEOUT
    b.timeout = TIMEOUT
    family = {
        "tcp4": socket.AF_INET,
        "udp4": socket.AF_INET,
        "tcp6": socket.AF_INET6,
        "udp6": socket.AF_INET6,
    }
    return Pair(name, a, b, family.get(name, socket.AF_UNIX))


def _pairs(request: pytest.FixtureRequest, directory: Path) -> Iterator[Pair]:
    with contextlib.ExitStack() as stack:
        yield make_pair(request.param, stack, directory)


@pytest.fixture(params=PAIR_NAMES)
def pair(request: pytest.FixtureRequest, tmp_sock_dir: Path) -> Iterator[Pair]:
    """A connected pair (a, b) of every kind, closed after the test."""
    yield from _pairs(request, tmp_sock_dir)


@pytest.fixture(params=STREAM_PAIRS)
def stream_pair(request: pytest.FixtureRequest, tmp_sock_dir: Path) -> Iterator[Pair]:
    """A connected pair of each byte-stream kind (TCP, Unix stream)."""
    yield from _pairs(request, tmp_sock_dir)


@pytest.fixture(params=DATAGRAM_PAIRS + SEQPACKET_PAIRS)
def message_pair(request: pytest.FixtureRequest, tmp_sock_dir: Path) -> Iterator[Pair]:
    """A connected pair of each kind that keeps message boundaries (UDP, Unix datagram, seqpacket)."""
    yield from _pairs(request, tmp_sock_dir)


@pytest.fixture(params=DATAGRAM_PAIRS)
def datagram_pair(request: pytest.FixtureRequest, tmp_sock_dir: Path) -> Iterator[Pair]:
    """A connected pair of each datagram kind (UDP, Unix datagram)."""
    yield from _pairs(request, tmp_sock_dir)


@pytest.fixture(params=STREAM_PAIRS + SEQPACKET_PAIRS)
def connected_pair(request: pytest.FixtureRequest, tmp_sock_dir: Path) -> Iterator[Pair]:
    """A connected pair of each connection-oriented kind (streams and seqpacket)."""
    yield from _pairs(request, tmp_sock_dir)
