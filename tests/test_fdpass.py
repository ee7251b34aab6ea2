"""Passing descriptors and asking who the peer is (APUE 17.3 Unique Connections, 17.4 Passing File Descriptors).

``send_fds``/``recv_fds`` on every Unix kind, between threads of this process
and between real processes; ``peer_credentials``; listeners that accept only
some users (``allowed_uids``). Every test that receives descriptors checks
that none is left open: the fd count comes back, and a pipe whose write end
travelled reports end of file once every copy is closed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest

import transports
from conftest import TIMEOUT, Background, make_pair
from transports import (
    AddressError,
    Credentials,
    FdPassing,
    FdsTruncated,
    Kind,
    NotConnected,
    PeerRejected,
    RecvFlags,
    SendFlags,
    TransportClosed,
    TransportError,
    UnixAddress,
    UnixDatagramTransport,
    UnixListener,
    UnixSeqpacketListener,
    UnixSeqpacketTransport,
    UnixStreamTransport,
    UnsupportedFlag,
    WouldBlock,
)
from transports.fdpass import MAX_FDS

#: Connected pairs of every Unix kind: socketpairs and listener/connect (or bound) pairs.
UNIX_PAIRS = [
    "unix-socketpair",
    "unix",
    "unixgram-socketpair",
    "unixgram-bound",
    "unixpacket-socketpair",
    "unixpacket",
]
KINDS = ["stream", "datagram", "seqpacket"]


@pytest.fixture(params=UNIX_PAIRS)
def ends(request: pytest.FixtureRequest, tmp_sock_dir: Path) -> Iterator[tuple[FdPassing, FdPassing]]:
    """Two connected Unix transports (a, b) with a timeout, closed after the test."""
    with contextlib.ExitStack() as stack:
        pair = make_pair(request.param, stack, tmp_sock_dir)
        a, b = pair.a, pair.b
        assert isinstance(a, FdPassing)
        assert isinstance(b, FdPassing)
        yield a, b


class Pipe:
    """An os.pipe whose ends are closed at the end of the test; tells when every writer is gone."""

    def __init__(self) -> None:
        self.r, self.w = os.pipe()
        self._open = {self.r, self.w}

    def close_write(self) -> None:
        self._close(self.w)

    def _close(self, fd: int) -> None:
        if fd in self._open:
            self._open.discard(fd)
            os.close(fd)

    def read(self, size: int = 100) -> bytes:
        ready, _, _ = select.select([self.r], [], [], TIMEOUT)
        assert ready, f"nothing to read from the pipe within {TIMEOUT} s"
        return os.read(self.r, size)

    def all_writers_closed(self) -> bool:
        """True once no write end is open anywhere (the read end sees end of file)."""
        ready, _, _ = select.select([self.r], [], [], TIMEOUT)
        return bool(ready) and os.read(self.r, 100) == b""

    def close(self) -> None:
        for fd in list(self._open):
            self._close(fd)


@pytest.fixture
def pipe() -> Iterator[Pipe]:
    p = Pipe()
    try:
        yield p
    finally:
        p.close()


def _close_all(fds: tuple[int, ...]) -> None:
    for fd in fds:
        os.close(fd)


def _nothing_queued(receiver: FdPassing) -> None:
    """Nothing at all arrived at *receiver* (a non-blocking receive finds nothing)."""
    with pytest.raises(WouldBlock):
        receiver.recv_fds(100, 4, RecvFlags.DONTWAIT)


# -- passing descriptors between the two ends ---------------------------------------------------


def test_a_pipe_end_passed_and_used(ends: tuple[FdPassing, FdPassing], pipe: Pipe) -> None:
    a, b = ends
    assert a.send_fds(b"write here", [pipe.w]) == len(b"write here")
    pipe.close_write()  # from now on only the received copy can write
    got = b.recv_fds(64, 4)
    assert got.data == b"write here"
    assert not got.truncated
    (fd,) = got.fds
    os.write(fd, b"through the passed end")
    assert pipe.read() == b"through the passed end"
    os.close(fd)
    assert pipe.all_writers_closed()


def test_received_descriptors_are_close_on_exec(ends: tuple[FdPassing, FdPassing], pipe: Pipe) -> None:
    a, b = ends
    os.set_inheritable(pipe.w, True)  # the sender's copy is inheritable; the received one must not be
    a.send_fds(b"x", [pipe.w, pipe.r])
    got = b.recv_fds(8, 2)
    try:
        assert len(got.fds) == 2
        assert [os.get_inheritable(fd) for fd in got.fds] == [False, False]
    finally:
        _close_all(got.fds)


def test_files_sockets_and_transports_as_sources(
    ends: tuple[FdPassing, FdPassing], tmp_sock_dir: Path
) -> None:
    a, b = ends
    path = tmp_sock_dir / "data.txt"
    path.write_bytes(b"file contents")
    x1, x2 = socket.socketpair()
    t1, t2 = UnixStreamTransport.pair()
    listener = UnixListener.listen(tmp_sock_dir / "handed.sock", timeout=TIMEOUT)
    with open(path, "rb") as file, x1, x2, t1, t2, listener:
        a.send_fds(b"four", [file, x1, t1, listener])
        got = b.recv_fds(16, 4)
        assert got.data == b"four"
        file_fd, sock_fd, transport_fd, listener_fd = got.fds
        # The file: same open file, so it reads the contents.
        assert os.path.samestat(os.fstat(file_fd), os.fstat(file.fileno()))
        assert os.pread(file_fd, 100, 0) == b"file contents"
        os.close(file_fd)
        # A plain socket: the received copy talks to x2.
        with socket.socket(fileno=sock_fd) as copy:
            copy.sendall(b"via the socket")
        x2.settimeout(TIMEOUT)
        assert x2.recv(100) == b"via the socket"
        # One of our transports: wrap the copy as a transport again.
        with UnixStreamTransport.from_socket(socket.socket(fileno=transport_fd)) as again:
            again.send_all(b"via the transport")
        t2.timeout = TIMEOUT
        assert t2.recv_exactly(len(b"via the transport")) == b"via the transport"
        # A listening socket: whoever holds the copy accepts connections.
        with socket.socket(fileno=listener_fd) as passed_listener:
            passed_listener.settimeout(TIMEOUT)
            with UnixStreamTransport.connect(tmp_sock_dir / "handed.sock", timeout=TIMEOUT) as client:
                server, _ = passed_listener.accept()
                with server:
                    server.sendall(b"accepted by the copy")
                    assert client.recv_exactly(20) == b"accepted by the copy"


def test_the_same_descriptor_many_times(ends: tuple[FdPassing, FdPassing], pipe: Pipe) -> None:
    a, b = ends
    a.send_fds(b"three", [pipe.w] * 3)
    got = b.recv_fds(16, 3)
    assert len(set(got.fds)) == 3  # three new descriptors for one open pipe end
    assert all(os.path.samestat(os.fstat(fd), os.fstat(pipe.w)) for fd in got.fds)
    _close_all(got.fds)
    pipe.close_write()
    assert pipe.all_writers_closed()


@pytest.mark.parametrize(("sent", "max_fds"), [(1, 1), (2, 2), (7, 7), (MAX_FDS, MAX_FDS)])
def test_exactly_max_fds_is_fine(
    ends: tuple[FdPassing, FdPassing], pipe: Pipe, sent: int, max_fds: int
) -> None:
    a, b = ends
    a.send_fds(b"n", [pipe.w] * sent)
    got = b.recv_fds(4, max_fds)
    assert len(got.fds) == sent
    _close_all(got.fds)


@pytest.mark.parametrize(("sent", "max_fds"), [(1, 0), (2, 1), (3, 1), (5, 4), (MAX_FDS, MAX_FDS - 1)])
def test_more_descriptors_than_max_fds(
    ends: tuple[FdPassing, FdPassing],
    pipe: Pipe,
    fd_count: Callable[[], int],
    sent: int,
    max_fds: int,
) -> None:
    # (2, 1) matters: the control buffer for one descriptor is padded to fit two,
    # so the kernel delivers both without MSG_CTRUNC; that too is "more than asked".
    a, b = ends
    a.send_fds(b"data too", [pipe.w] * sent)
    pipe.close_write()
    before = fd_count()
    with pytest.raises(FdsTruncated) as info:
        b.recv_fds(64, max_fds)
    assert fd_count() == before, "received descriptors were left open"
    assert info.value.data == b"data too"
    assert 0 <= info.value.received <= sent
    assert f"max_fds={max_fds}" in str(info.value)
    assert isinstance(info.value, TransportError)
    # Every copy is gone: the ones that arrived were closed, the kernel dropped the rest.
    assert pipe.all_writers_closed()
    # The message was consumed; the transport goes on working.
    a.send(b"next")
    assert b.recv_fds(64, 0).data == b"next"


def test_the_kernel_limit_of_253_descriptors(
    ends: tuple[FdPassing, FdPassing], pipe: Pipe, fd_count: Callable[[], int]
) -> None:
    a, b = ends
    before = fd_count()
    assert a.send_fds(b"many", [pipe.w] * MAX_FDS) == 4
    got = b.recv_fds(16, MAX_FDS)
    assert len(got.fds) == MAX_FDS == 253
    assert fd_count() == before + MAX_FDS
    _close_all(got.fds)
    with pytest.raises(ValueError, match="at most 253"):
        a.send_fds(b"too many", [pipe.w] * (MAX_FDS + 1))
    _nothing_queued(b)  # refused before the system call: nothing went out
    with pytest.raises(ValueError, match="at most 253"):
        b.recv_fds(16, MAX_FDS + 1)
    assert fd_count() == before


# -- data and descriptors per kind ----------------------------------------------------------------


def test_stream_refuses_descriptors_without_data(pipe: Pipe) -> None:
    # Linux drops descriptors sent on a stream with no data byte: refuse that.
    a, b = UnixStreamTransport.pair()
    with a, b:
        with pytest.raises(ValueError, match="at least one byte"):
            a.send_fds(b"", [pipe.w])
        _nothing_queued(b)
        assert a.send_fds(b"", []) == 0  # no descriptors, no data: nothing to lose


@pytest.mark.parametrize("kind", ["datagram", "seqpacket"])
def test_messages_carry_descriptors_without_data(kind: str, pipe: Pipe) -> None:
    a, b = transports.socketpair(kind)  # type: ignore[call-overload]  # one of the literal kinds
    with a, b:
        b.timeout = TIMEOUT
        assert a.send_fds(b"", [pipe.w]) == 0
        got = b.recv_fds(16, 1)
        assert got.data == b""
        assert len(got.fds) == 1
        _close_all(got.fds)


@pytest.mark.parametrize("kind", ["datagram", "seqpacket"])
def test_truncated_message_still_delivers_its_descriptors(kind: str, pipe: Pipe) -> None:
    a, b = transports.socketpair(kind)  # type: ignore[call-overload]
    with a, b:
        b.timeout = TIMEOUT
        message = bytes(range(100))
        a.send_fds(message, [pipe.w])
        got = b.recv_fds(10, 1)
        assert got.truncated
        assert got.data == message[:10]
        assert len(got.fds) == 1
        os.write(got.fds[0], b"!")
        assert pipe.read() == b"!"
        _close_all(got.fds)
        # The rest of the message is gone (the kernel discards it): the next one is next.
        a.send(b"after")
        assert b.recv(100) == b"after"


def test_truncated_message_with_too_many_descriptors(fd_count: Callable[[], int], pipe: Pipe) -> None:
    a, b = UnixSeqpacketTransport.pair()
    with a, b:
        a.send_fds(bytes(100), [pipe.w] * 3)
        before = fd_count()
        with pytest.raises(FdsTruncated) as info:
            b.recv_fds(10, 1)
        assert info.value.data == bytes(10)
        assert fd_count() == before


def test_a_stream_is_not_truncated_the_rest_follows(pipe: Pipe) -> None:
    a, b = UnixStreamTransport.pair()
    with a, b:
        b.timeout = TIMEOUT
        message = bytes(range(100))
        a.send_fds(message, [pipe.w])
        got = b.recv_fds(10, 1)
        assert not got.truncated
        assert got.data == message[:10]
        assert len(got.fds) == 1
        _close_all(got.fds)
        assert b.recv_exactly(90) == message[10:]


def test_end_of_stream(pipe: Pipe) -> None:
    a, b = UnixStreamTransport.pair()
    with a, b:
        b.timeout = TIMEOUT
        a.shutdown("write")
        got = b.recv_fds(10, 1)
        assert got == transports.ReceivedFds(b"", ())


def test_datagram_send_fds_to_an_address(tmp_sock_dir: Path, abstract_name: str, pipe: Pipe) -> None:
    server_path, client_path = tmp_sock_dir / "server.sock", tmp_sock_dir / "client.sock"
    with (
        UnixDatagramTransport.bind(server_path, timeout=TIMEOUT) as server,
        UnixDatagramTransport.bind(client_path, timeout=TIMEOUT) as client,
        UnixDatagramTransport.bind(f"\0{abstract_name}", timeout=TIMEOUT) as hidden,
    ):
        assert client.send_fds(b"by path", [pipe.w], address=os.fspath(server_path)) == 7
        got = server.recv_fds(16, 1)
        assert got.data == b"by path"
        assert got.address == UnixAddress(os.fspath(client_path))
        _close_all(got.fds)
        # An address object, abstract name included; the answer goes back to the sender.
        client.send_fds(b"abstract", [pipe.w], address=UnixAddress(abstract_name, abstract=True))
        got = hidden.recv_fds(16, 1)
        assert got.address == client.local_address
        assert got.address is not None
        _close_all(got.fds)
        hidden.send_fds(b"reply", [pipe.w], address=got.address)
        reply = client.recv_fds(16, 1)
        assert reply.data == b"reply"
        assert reply.address == UnixAddress(abstract_name, abstract=True)
        _close_all(reply.fds)


def test_datagram_without_address_or_peer(pipe: Pipe, fd_count: Callable[[], int]) -> None:
    with UnixDatagramTransport.bind(None, timeout=TIMEOUT) as lonely:
        before = fd_count()
        with pytest.raises(NotConnected):
            lonely.send_fds(b"to whom?", [pipe.w])
        assert fd_count() == before


@pytest.mark.parametrize("kind", ["stream", "seqpacket"])
def test_connected_kinds_take_no_address(kind: str, pipe: Pipe, tmp_sock_dir: Path) -> None:
    a, b = transports.socketpair(kind)  # type: ignore[call-overload]
    with a, b:
        with pytest.raises(AddressError, match="datagram"):
            a.send_fds(b"x", [pipe.w], address=os.fspath(tmp_sock_dir / "elsewhere.sock"))
        _nothing_queued(b)


# -- flags ---------------------------------------------------------------------------------------------


def test_dontwait_never_waits_even_with_a_timeout(ends: tuple[FdPassing, FdPassing]) -> None:
    _, b = ends
    assert b.timeout == TIMEOUT
    start = time.monotonic()
    with pytest.raises(WouldBlock):
        b.recv_fds(100, 1, RecvFlags.DONTWAIT)
    assert time.monotonic() - start < TIMEOUT / 2
    assert b.timeout == TIMEOUT  # the timeout is back in place


def _fill(sender: FdPassing) -> None:
    """Send until the kernel says the next send would block."""
    chunk = bytes(4096)
    for _ in range(100_000):
        try:
            sender.send(chunk, SendFlags.DONTWAIT)
        except WouldBlock:
            return
    raise AssertionError("the socket never filled up")


@pytest.mark.parametrize("kind", KINDS)
def test_dontwait_send_on_a_full_socket(kind: str, pipe: Pipe, fd_count: Callable[[], int]) -> None:
    a, b = transports.socketpair(kind)  # type: ignore[call-overload]
    with a, b:
        a.timeout = TIMEOUT
        _fill(a)
        before = fd_count()
        start = time.monotonic()
        with pytest.raises(WouldBlock):
            a.send_fds(b"x", [pipe.w], SendFlags.DONTWAIT)
        assert time.monotonic() - start < TIMEOUT / 2
        assert fd_count() == before
        pipe.close_write()
        assert pipe.all_writers_closed()  # the refused message left no copy in the queue


def test_peek_installs_descriptors_too(
    ends: tuple[FdPassing, FdPassing], pipe: Pipe, fd_count: Callable[[], int]
) -> None:
    # What Linux does: MSG_PEEK leaves the message (and its descriptors) queued, but
    # still installs new descriptors for the peeker. Each peek and the final receive
    # return distinct descriptors for the same open file; all of them are the
    # caller's to close, and recv_fds closes none of them behind its back.
    a, b = ends
    a.send_fds(b"peek at me", [pipe.w])
    pipe.close_write()
    before = fd_count()
    first = b.recv_fds(64, 1, RecvFlags.PEEK)
    second = b.recv_fds(64, 1, RecvFlags.PEEK)
    final = b.recv_fds(64, 1)
    assert first.data == second.data == final.data == b"peek at me"
    fds = first.fds + second.fds + final.fds
    assert len(fds) == len(set(fds)) == 3
    assert fd_count() == before + 3
    assert not any(os.get_inheritable(fd) for fd in fds)
    for fd in fds:
        os.write(fd, b".")  # each one is a live write end of the pipe
    assert pipe.read() == b"..."
    _close_all(fds)
    assert fd_count() == before
    assert pipe.all_writers_closed()
    _nothing_queued(b)  # the peeks left only one message, and it was received


def test_oob_is_refused_for_descriptors(pipe: Pipe) -> None:
    # Linux would attach the descriptors to the urgent byte, and no receive hands them out.
    a, b = UnixStreamTransport.pair()
    with a, b:
        with pytest.raises(UnsupportedFlag, match="OOB"):
            a.send_fds(b"!", [pipe.w], SendFlags.OOB)
        _nothing_queued(b)


def test_waitall_is_refused_for_recv_fds(pipe: Pipe) -> None:
    a, b = UnixStreamTransport.pair()
    with a, b:
        b.timeout = TIMEOUT
        a.send_all(b"abc")
        with pytest.raises(UnsupportedFlag, match="WAITALL"):
            b.recv_fds(10, 1, RecvFlags.WAITALL)
        assert b.recv_exactly(3) == b"abc"  # the refused call consumed nothing


def test_flags_are_checked_before_the_system_call(pipe: Pipe) -> None:
    a, b = UnixSeqpacketTransport.pair()
    with a, b:
        with pytest.raises(UnsupportedFlag, match="MORE"):
            a.send_fds(b"x", [pipe.w], SendFlags.MORE)
        with pytest.raises(TypeError, match="SendFlags"):
            a.send_fds(b"x", [pipe.w], RecvFlags.PEEK)  # type: ignore[arg-type]
        with pytest.raises(UnsupportedFlag, match="OOB"):
            b.recv_fds(10, 1, RecvFlags.OOB)
        _nothing_queued(b)


# -- bad input and closed transports -------------------------------------------------------------


def _closed_file(tmp: Path) -> object:
    f = open(tmp / "closed.txt", "wb")  # noqa: SIM115  # closed on purpose, right away
    f.close()
    return f


def _closed_socket(_: Path) -> object:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.close()
    return s


def _closed_transport(_: Path) -> object:
    a, b = UnixStreamTransport.pair()
    a.close()
    b.close()
    return a


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        pytest.param(lambda _: -1, ValueError, "no open descriptor", id="negative"),
        pytest.param(lambda _: 2**40, ValueError, "not a descriptor", id="beyond-int"),
        pytest.param(_closed_file, ValueError, "closed file", id="closed-file"),
        pytest.param(_closed_socket, ValueError, "no open descriptor", id="closed-socket"),
        pytest.param(_closed_transport, ValueError, "no open descriptor", id="closed-transport"),
        pytest.param(lambda _: "3", TypeError, "descriptors", id="str"),
        pytest.param(lambda _: 3.0, TypeError, "descriptors", id="float"),
        pytest.param(lambda _: True, TypeError, "descriptors", id="bool"),
        pytest.param(lambda _: None, TypeError, "descriptors", id="none"),
    ],
)
def test_bad_descriptors_are_refused_before_the_system_call(
    ends: tuple[FdPassing, FdPassing],
    pipe: Pipe,
    tmp_sock_dir: Path,
    fd_count: Callable[[], int],
    make: Callable[[Path], object],
    error: type[Exception],
    match: str,
) -> None:
    a, b = ends
    bad = make(tmp_sock_dir)
    before = fd_count()
    with pytest.raises(error, match=match):
        a.send_fds(b"x", [pipe.w, bad])  # type: ignore[list-item]  # wrong types on purpose
    assert fd_count() == before
    _nothing_queued(b)


def test_a_descriptor_that_is_not_open(
    ends: tuple[FdPassing, FdPassing], fd_count: Callable[[], int]
) -> None:
    # Only the kernel can tell (EBADF); the transport is fine, so this is no TransportClosed.
    a, b = ends
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    before = fd_count()
    with pytest.raises(ValueError, match=rf"\[{w}\] are not open"):
        a.send_fds(b"x", [w])
    assert fd_count() == before
    _nothing_queued(b)


@pytest.mark.parametrize(
    ("max_bytes", "max_fds", "error"),
    [(-1, 1, ValueError), (10, -1, ValueError), (10, True, TypeError), ("10", 1, TypeError)],
)
def test_bad_receive_sizes(
    ends: tuple[FdPassing, FdPassing], max_bytes: object, max_fds: object, error: type[Exception]
) -> None:
    a, b = ends
    a.send(b"kept")
    with pytest.raises(error):
        b.recv_fds(max_bytes, max_fds)  # type: ignore[arg-type]
    assert b.recv_fds(10, 0).data == b"kept"


def test_closed_transport(pipe: Pipe) -> None:
    a, b = UnixStreamTransport.pair()
    a.close()
    with b:
        with pytest.raises(TransportClosed):
            a.send_fds(b"x", [pipe.w])
        with pytest.raises(TransportClosed):
            a.recv_fds(10, 1)
        with pytest.raises(TransportClosed):
            a.peer_credentials()


def test_a_peer_that_never_reads(fd_count: Callable[[], int], pipe: Pipe) -> None:
    # Descriptors in flight to a peer that closes without reading: the kernel
    # drops its copies, and nothing stays open on our side.
    before = fd_count()
    for kind in KINDS:
        a, b = transports.socketpair(kind)  # type: ignore[call-overload]
        x1, x2 = socket.socketpair()
        with a, x2:
            with x1:
                for _ in range(3):
                    a.send_fds(b"unread", [pipe.w, x1])
            b.close()  # never read a thing
            # The only copy of x1 left was in flight: x2 now sees end of stream.
            x2.settimeout(TIMEOUT)
            assert x2.recv(10) == b""
    pipe.close_write()
    assert pipe.all_writers_closed()
    assert fd_count() == before - 1  # the one we closed ourselves


# -- only Unix transports pass descriptors -------------------------------------------------------


@pytest.mark.parametrize("name", ["tcp4", "udp4"])
def test_tcp_and_udp_have_no_fd_passing(name: str, tmp_sock_dir: Path) -> None:
    # Linux would accept SCM_RIGHTS on them and drop the descriptors silently.
    with contextlib.ExitStack() as stack:
        pair = make_pair(name, stack, tmp_sock_dir)
        for end in (pair.a, pair.b):
            assert not isinstance(end, FdPassing)
            assert not hasattr(end, "send_fds")
            assert not hasattr(end, "recv_fds")
            assert not hasattr(end, "peer_credentials")


def test_every_unix_transport_passes_descriptors(ends: tuple[FdPassing, FdPassing]) -> None:
    for end in ends:
        assert isinstance(end, FdPassing)
        assert end.kind in (Kind.STREAM, Kind.DATAGRAM, Kind.SEQPACKET)


# -- between real processes ----------------------------------------------------------------------

_CHILD_PRELUDE = """
import os, socket, sys
from transports import UnixDatagramTransport, UnixSeqpacketTransport, UnixStreamTransport
cls = {"stream": UnixStreamTransport, "datagram": UnixDatagramTransport,
       "seqpacket": UnixSeqpacketTransport}[sys.argv[2]]
end = cls.from_socket(socket.socket(fileno=int(sys.argv[1])))
end.timeout = 10
"""

# The child gets a descriptor of a file we opened, and writes through it.
_CHILD_WRITES = (
    _CHILD_PRELUDE
    + """
got = end.recv_fds(64, 1)
(fd,) = got.fds
assert not os.get_inheritable(fd), "a received descriptor must be close-on-exec"
os.write(fd, b"written by the child: " + got.data)
os.close(fd)
end.send(b"done")
end.close()
"""
)

# The child opens a file of its own and hands us the descriptor.
_CHILD_OPENS = (
    _CHILD_PRELUDE
    + """
path = sys.argv[3]
with open(path, "wb") as f:
    f.write(b"opened by the child")
fd = os.open(path, os.O_RDONLY)
end.send_fds(b"here", [fd])
os.close(fd)
assert end.recv(16) == b"thanks"
end.close()
"""
)


@contextlib.contextmanager
def _child(code: str, end: FdPassing, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run *code* in a new Python process holding a copy of *end*; our copy is closed.

    On leaving, waits for the child (killing it if it outlives the timeout)
    and fails the test unless it exited with 0.
    """
    fd = end.fileno()
    proc = subprocess.Popen(
        [sys.executable, "-W", "error::ResourceWarning", "-c", code, str(fd), *args],
        pass_fds=[fd],
        stderr=subprocess.PIPE,
    )
    end.close()
    try:
        yield proc
    finally:
        try:
            _, err = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err.decode(errors="replace")


@pytest.mark.parametrize("kind", KINDS)
def test_child_writes_through_a_descriptor_we_pass(kind: str, tmp_sock_dir: Path) -> None:
    path = tmp_sock_dir / "shared.txt"
    ours, theirs = transports.socketpair(kind)  # type: ignore[call-overload]
    with ours, open(path, "wb") as file:
        ours.timeout = TIMEOUT
        with _child(_CHILD_WRITES, theirs, kind):
            ours.send_fds(b"hello", [file])
            assert ours.recv(16) == b"done"
    assert path.read_bytes() == b"written by the child: hello"


@pytest.mark.parametrize("kind", KINDS)
def test_child_passes_us_a_descriptor_it_opened(
    kind: str, tmp_sock_dir: Path, fd_count: Callable[[], int]
) -> None:
    path = tmp_sock_dir / "theirs.txt"
    ours, theirs = transports.socketpair(kind)  # type: ignore[call-overload]
    with ours:
        ours.timeout = TIMEOUT
        with _child(_CHILD_OPENS, theirs, kind, os.fspath(path)):
            before = fd_count()
            got = ours.recv_fds(16, 1)
            assert got.data == b"here"
            (fd,) = got.fds
            assert fd_count() == before + 1
            with open(fd, "rb") as file:  # the file object owns (and closes) the descriptor
                assert file.read() == b"opened by the child"
                assert os.path.samestat(os.fstat(file.fileno()), os.stat(path))
            assert fd_count() == before
            ours.send(b"thanks")


# -- peer credentials ------------------------------------------------------------------------------

ME = Credentials(os.getpid(), os.getuid(), os.getgid())


@pytest.mark.parametrize("name", [name for name in UNIX_PAIRS if name != "unixgram-bound"])
def test_credentials_of_a_connected_pair(name: str, tmp_sock_dir: Path) -> None:
    with contextlib.ExitStack() as stack:
        pair = make_pair(name, stack, tmp_sock_dir)
        for end in (pair.a, pair.b):
            assert isinstance(end, FdPassing)
            assert end.peer_credentials() == ME


def test_connected_datagram_sockets_have_no_credentials(tmp_sock_dir: Path) -> None:
    # Linux records credentials for connections and socketpairs only; a
    # datagram socket that was merely connect()-ed would report pid 0, uid -1.
    with contextlib.ExitStack() as stack:
        pair = make_pair("unixgram-bound", stack, tmp_sock_dir)
        for end in (pair.a, pair.b):
            assert isinstance(end, FdPassing)
            with pytest.raises(NotConnected, match="no connected peer"):
                end.peer_credentials()


def test_credentials_are_a_frozen_value() -> None:
    a, b = UnixStreamTransport.pair()
    with a, b:
        who = a.peer_credentials()
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            who.uid = 12345  # type: ignore[misc]
        assert hash(who) == hash(ME)


def test_an_unconnected_socket_has_no_credentials() -> None:
    with UnixDatagramTransport.bind(None) as alone:
        with pytest.raises(NotConnected) as info:
            alone.peer_credentials()
        assert info.value.errno == errno.ENOTCONN
        assert info.value.op == "peer_credentials"


_CHILD_CONNECTS = """
import os, sys
from transports import UnixStreamTransport
with UnixStreamTransport.connect(sys.argv[1], timeout=10) as conn:
    # The listener is our parent: its pid is what the kernel recorded at listen().
    assert conn.peer_credentials().pid == os.getppid(), conn.peer_credentials()
    conn.send_all(b"%d" % os.getpid())
    assert conn.recv(16) == b"seen"
"""


def test_credentials_name_the_process_that_connected(tmp_sock_dir: Path) -> None:
    path = tmp_sock_dir / "server.sock"
    with UnixListener.listen(path, timeout=TIMEOUT) as listener:
        proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD_CONNECTS, os.fspath(path)], stderr=subprocess.PIPE
        )
        try:
            with listener.accept() as conn:
                conn.timeout = TIMEOUT
                who = conn.peer_credentials()
                assert who == Credentials(proc.pid, os.getuid(), os.getgid())
                assert conn.recv(16) == str(proc.pid).encode()
                conn.send(b"seen")
        finally:
            _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err.decode(errors="replace")


_CHILD_ASKS = """
import socket, sys
from transports import UnixStreamTransport
with UnixStreamTransport.from_socket(socket.socket(fileno=int(sys.argv[1]))) as end:
    end.send_all(b"%d" % end.peer_credentials().pid)
"""


def test_credentials_are_taken_when_the_socket_is_made() -> None:
    # A socketpair end handed to a child still names its maker: us, on both sides.
    ours, theirs = UnixStreamTransport.pair()
    with ours:
        ours.timeout = TIMEOUT
        fd = theirs.fileno()
        proc = subprocess.Popen([sys.executable, "-c", _CHILD_ASKS, str(fd)], pass_fds=[fd])
        theirs.close()
        try:
            assert ours.recv(16) == str(os.getpid()).encode()
            assert ours.peer_credentials() == ME
        finally:
            proc.wait(timeout=TIMEOUT)
    assert proc.returncode == 0


# -- listeners that accept only some users (allowed_uids) --------------------------------------------

LISTENERS = [
    pytest.param(UnixListener, UnixStreamTransport, id="stream"),
    pytest.param(UnixSeqpacketListener, UnixSeqpacketTransport, id="seqpacket"),
]
ListenerClass = type[UnixListener] | type[UnixSeqpacketListener]
ClientClass = type[UnixStreamTransport] | type[UnixSeqpacketTransport]
#: A uid that is not ours: the tests all run as one user, so "someone else" is simulated.
OTHER_UID = os.getuid() + 4242


@pytest.mark.parametrize(("listener_cls", "client_cls"), LISTENERS)
def test_allowed_uid_is_accepted(
    listener_cls: ListenerClass, client_cls: ClientClass, tmp_sock_dir: Path
) -> None:
    path = tmp_sock_dir / "only-me.sock"
    with listener_cls.listen(path, timeout=TIMEOUT, allowed_uids={os.getuid(), OTHER_UID}) as listener:
        with client_cls.connect(path, timeout=TIMEOUT) as client, listener.accept() as server:
            client.send(b"let me in")
            server.timeout = TIMEOUT
            assert server.recv(100) == b"let me in"
            assert server.peer_credentials() == ME


@pytest.mark.parametrize(("listener_cls", "client_cls"), LISTENERS)
@pytest.mark.parametrize("allowed", [{OTHER_UID}, set()], ids=["someone-else", "nobody"])
def test_a_user_not_allowed_is_rejected(
    listener_cls: ListenerClass,
    client_cls: ClientClass,
    allowed: set[int],
    tmp_sock_dir: Path,
    fd_count: Callable[[], int],
) -> None:
    path = tmp_sock_dir / "guarded.sock"
    with listener_cls.listen(path, timeout=TIMEOUT, allowed_uids=allowed) as listener:
        with client_cls.connect(path, timeout=TIMEOUT) as client:
            before = fd_count()
            with pytest.raises(PeerRejected) as info:
                listener.accept()
            assert fd_count() == before, "the rejected connection was left open"
            err = info.value
            assert isinstance(err, PermissionError)
            assert isinstance(err, TransportError)
            assert err.errno == 13  # EACCES
            assert err.credentials == ME
            assert err.op == "accept"
            assert f"uid {os.getuid()}" in str(err)
            assert os.fspath(path) in str(err)
            # The client sees the connection end.
            assert client.recv(16) == b""


def test_a_rejected_client_that_had_sent_data_sees_a_reset(tmp_sock_dir: Path) -> None:
    path = tmp_sock_dir / "guarded.sock"
    with UnixListener.listen(path, timeout=TIMEOUT, allowed_uids={OTHER_UID}) as listener:
        with UnixStreamTransport.connect(path, timeout=TIMEOUT) as client:
            client.send_all(b"unread by the server")
            with pytest.raises(PeerRejected):
                listener.accept()
            # Closing a Unix socket with unread data resets the connection (not a clean EOF).
            with pytest.raises(ConnectionResetError):
                client.recv(16)


@pytest.mark.parametrize(("listener_cls", "client_cls"), LISTENERS)
def test_iteration_skips_rejected_peers(
    listener_cls: ListenerClass,
    client_cls: ClientClass,
    tmp_sock_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every process here runs as one user, so two users are simulated: the
    # listener's credential check sees another uid first, then ours.
    uids = iter([OTHER_UID, os.getuid()])
    seen: list[Credentials] = []

    def fake_credentials(sock: socket.socket, where: str) -> Credentials:
        who = Credentials(os.getpid(), next(uids), os.getgid())
        seen.append(who)
        return who

    monkeypatch.setattr("transports.unix.credentials_of", fake_credentials)
    path = tmp_sock_dir / "two-users.sock"
    with listener_cls.listen(path, timeout=TIMEOUT, allowed_uids={os.getuid()}) as listener:
        with (
            client_cls.connect(path, timeout=TIMEOUT) as stranger,
            client_cls.connect(path, timeout=TIMEOUT) as friend,
        ):
            stranger.send(b"stranger")
            friend.send(b"friend")
            for conn in listener:
                with conn:
                    conn.timeout = TIMEOUT
                    assert conn.recv(100) == b"friend"
                break
            assert [who.uid for who in seen] == [OTHER_UID, os.getuid()]
            # The stranger was disconnected with its message unread: a reset.
            with pytest.raises(ConnectionResetError):
                stranger.recv(100)


def test_iteration_of_a_listener_that_rejects_everyone_ends_on_close(
    tmp_sock_dir: Path, background: Background
) -> None:
    path = tmp_sock_dir / "nobody.sock"
    listener = UnixListener.listen(path, timeout=TIMEOUT, allowed_uids=set())
    with listener:
        accepted = background.start(lambda: list(listener), name="iterate")
        with UnixStreamTransport.connect(path, timeout=TIMEOUT) as client:
            assert client.recv(16) == b""  # the iteration took the connection and dropped it
        listener.close()
        assert accepted.result() == []


@pytest.mark.parametrize("bad", ["0", b"0", ["0"], [0.0], [True], 0])
def test_allowed_uids_must_be_ints(bad: object, tmp_sock_dir: Path, fd_count: Callable[[], int]) -> None:
    path = tmp_sock_dir / "typed.sock"
    before = fd_count()
    with pytest.raises(TypeError):
        UnixListener.listen(path, allowed_uids=bad)  # type: ignore[arg-type]
    assert fd_count() == before
    assert not path.exists()
    assert not Path(f"{path}.lock").exists()
