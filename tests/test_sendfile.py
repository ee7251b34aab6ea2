"""sendfile and recv_into_file: zero copy out and in, fallbacks, edges, errors, socat (APUE 16.5, 14.7).

sendfile(2) and splice(2) are not in APUE; they extend 16.5 Data Transfer and
14.7 readn and writen. Every transfer is compared by SHA-256. The sending and
receiving ends run in two threads of this process, synchronised on the
sockets themselves (end of stream, a first chunk read); nothing sleeps.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import itertools
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import transports._core.files as zero_copy_files
from conftest import TIMEOUT, Background, Pair, Task
from transports import (
    BrokenPipe,
    ConnectionReset,
    Linger,
    RecvFlags,
    SendfileCapable,
    TCPListener,
    TCPTransport,
    TransportTimeout,
    UnexpectedEOF,
    UnixListener,
    UnixSeqpacketTransport,
    UnixStreamTransport,
    WouldBlock,
    ZeroCopyUnavailable,
)
from transports.options import SO_LINGER

KiB = 1 << 10
MiB = 1 << 20
LINUX = sys.platform.startswith("linux")
SIZES = [0, 1, 65537, 3 * MiB + 7]

Stream = TCPTransport | UnixStreamTransport


# -- helpers --------------------------------------------------------------------------------


def payload(size: int, seed: str = "sendfile") -> bytes:
    return random.Random(f"{seed}-{size}").randbytes(size)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_file(directory: Path, size: int, name: str = "source.bin") -> tuple[Path, bytes]:
    data = payload(size, name)
    path = directory / name
    path.write_bytes(data)
    return path, data


def sparse_file(directory: Path, size: int) -> Path:
    """A file of *size* bytes that takes no disk: os.truncate leaves a hole."""
    path = directory / "sparse.bin"
    path.touch()
    os.truncate(path, size)
    return path


def read_to_eof(t: Stream | SendfileCapable) -> bytes:
    chunks = []
    while chunk := t.recv(256 * KiB):
        chunks.append(chunk)
    return b"".join(chunks)


def hash_to_eof(t: Stream | SendfileCapable) -> tuple[int, str]:
    """Drain *t* into one reused buffer, hashing as it goes: (bytes, sha256)."""
    digest = hashlib.sha256()
    buffer = bytearray(MiB)
    total = 0
    with memoryview(buffer) as view:
        while count := t.recv_into(view):
            digest.update(view[:count])
            total += count
    return total, digest.hexdigest()


def sending(background: Background, sender: Stream | SendfileCapable, send: Callable[[], int]) -> Task[int]:
    """Run *send* in a thread, then end the stream so that the reader sees EOF."""

    def run() -> int:
        try:
            count = send()
        except BaseException:
            with contextlib.suppress(OSError):
                sender.shutdown("write")
            raise
        sender.shutdown("write")
        return count

    return background.start(run, "sendfile-sender")


def send_all_counted(sender: SendfileCapable, data: bytes) -> int:
    sender.send_all(data)
    return len(data)


def as_sendfile(pair: Pair) -> tuple[SendfileCapable, SendfileCapable]:
    assert isinstance(pair.a, SendfileCapable)
    assert isinstance(pair.b, SendfileCapable)
    return pair.a, pair.b


@contextlib.contextmanager
def open_ends(kind: str, directory: Path) -> Iterator[tuple[Stream, Stream]]:
    """A connected (sender, receiver) pair of *kind* ("tcp" or "unix"), both with a timeout."""
    with contextlib.ExitStack() as stack:
        a: Stream
        b: Stream
        if kind == "tcp":
            with TCPListener.listen("127.0.0.1", 0, timeout=TIMEOUT) as listener:
                a = stack.enter_context(
                    TCPTransport.connect("127.0.0.1", listener.address.port, timeout=TIMEOUT)
                )
                b = stack.enter_context(listener.accept())
        else:
            path = directory / "sendfile.sock"
            with UnixListener.listen(path, timeout=TIMEOUT) as unix_listener:
                a = stack.enter_context(UnixStreamTransport.connect(path, timeout=TIMEOUT))
                b = stack.enter_context(unix_listener.accept())
        b.timeout = TIMEOUT
        yield a, b


@pytest.fixture(params=["tcp", "unix"])
def ends(request: pytest.FixtureRequest, tmp_sock_dir: Path) -> Iterator[tuple[Stream, Stream]]:
    """A connected (sender, receiver) pair over TCP loopback and over a Unix stream."""
    with open_ends(request.param, tmp_sock_dir) as pair:
        yield pair


@pytest.fixture(params=["zero-copy", "fallback"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run with sendfile(2)/splice(2), or with both forced off (the read/send loops)."""
    if request.param == "zero-copy" and not (zero_copy_files.HAS_SENDFILE and zero_copy_files.HAS_SPLICE):
        pytest.skip("sendfile(2)/splice(2) are not available here")
    if request.param == "fallback":
        monkeypatch.setattr(zero_copy_files, "HAS_SENDFILE", False)
        monkeypatch.setattr(zero_copy_files, "HAS_SPLICE", False)
    return str(request.param)


@pytest.fixture
def syscalls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count os.sendfile and os.splice calls (passing them through)."""
    counts = {"sendfile": 0, "splice": 0}
    real_sendfile, real_splice = os.sendfile, os.splice

    def counting_sendfile(*args: Any) -> int:
        counts["sendfile"] += 1
        return real_sendfile(*args)

    def counting_splice(*args: Any) -> int:
        counts["splice"] += 1
        return real_splice(*args)

    monkeypatch.setattr(os, "sendfile", counting_sendfile)
    monkeypatch.setattr(os, "splice", counting_splice)
    return counts


def assert_nothing_waiting(t: Stream) -> None:
    """The peer sent nothing: a non-blocking receive finds no byte."""
    with pytest.raises(WouldBlock):
        t.recv(1, RecvFlags.DONTWAIT)


# -- identical bytes, every size, every stream kind ----------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_sendfile_sends_identical_bytes(
    stream_pair: Pair, size: int, mode: str, tmp_path: Path, background: Background
) -> None:
    sender, receiver = as_sendfile(stream_pair)
    path, data = write_file(tmp_path, size)
    task = sending(background, sender, lambda: sender.sendfile(path))
    assert hash_to_eof(receiver) == (size, sha(data))
    assert task.result() == size


@pytest.mark.parametrize("size", SIZES)
def test_recv_into_file_writes_identical_bytes(
    stream_pair: Pair, size: int, mode: str, tmp_path: Path, background: Background
) -> None:
    sender, receiver = as_sendfile(stream_pair)
    data = payload(size)
    sending(background, sender, lambda: send_all_counted(sender, data))
    out = tmp_path / "received.bin"
    assert receiver.recv_into_file(out) == size
    assert sha(out.read_bytes()) == sha(data)


def test_file_to_file_through_both_calls(
    ends: tuple[Stream, Stream], tmp_path: Path, background: Background
) -> None:
    sender, receiver = ends
    path, data = write_file(tmp_path, 3 * MiB + 7)
    task = sending(background, sender, lambda: sender.sendfile(str(path)))
    out = tmp_path / "copy.bin"
    assert receiver.recv_into_file(str(out)) == len(data)
    assert task.result() == len(data)
    assert sha(out.read_bytes()) == sha(data)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_sparse_file_of_256_mib(
    kind: str, tmp_path: Path, tmp_sock_dir: Path, background: Background
) -> None:
    size = 256 * MiB + 3
    path = sparse_file(tmp_path, size)
    # Marks at the start, in the middle and at the very end, so that a lost or
    # reordered block changes the hash (a file of only zeros would not tell).
    with open(path, "r+b") as fh:
        for offset in (0, size // 2 - 5, size - 11):
            fh.seek(offset)
            fh.write(payload(11, f"mark-{offset}"))
    with open(path, "rb") as fh:
        expected = hashlib.file_digest(fh, "sha256").hexdigest()
    started = time.monotonic()
    with open_ends(kind, tmp_sock_dir) as (sender, receiver):
        task = sending(background, sender, lambda: sender.sendfile(path))
        assert hash_to_eof(receiver) == (size, expected)
        assert task.result() == size
    assert time.monotonic() - started < 2 * TIMEOUT


# -- offsets and counts ----------------------------------------------------------------------

EDGE_SIZE = 10_000


@pytest.mark.parametrize(
    ("offset", "count", "expected"),
    [
        pytest.param(0, None, slice(0, EDGE_SIZE), id="whole"),
        pytest.param(EDGE_SIZE, None, slice(0, 0), id="offset=size"),
        pytest.param(EDGE_SIZE + 5, None, slice(0, 0), id="offset>size"),
        pytest.param(EDGE_SIZE + 5, 10, slice(0, 0), id="offset>size-with-count"),
        pytest.param(100, 0, slice(0, 0), id="count=0"),
        pytest.param(0, EDGE_SIZE + 1000, slice(0, EDGE_SIZE), id="count>size"),
        pytest.param(9_000, 5_000, slice(9_000, EDGE_SIZE), id="count-past-the-end"),
        pytest.param(1_234, EDGE_SIZE - 1_234, slice(1_234, EDGE_SIZE), id="offset+count=size"),
        pytest.param(1, 1, slice(1, 2), id="one-byte-inside"),
        pytest.param(EDGE_SIZE - 1, None, slice(EDGE_SIZE - 1, EDGE_SIZE), id="last-byte"),
    ],
)
def test_offset_and_count_edges(
    ends: tuple[Stream, Stream], mode: str, tmp_path: Path, offset: int, count: int | None, expected: slice
) -> None:
    sender, receiver = ends
    path, data = write_file(tmp_path, EDGE_SIZE)
    # Small enough for the socket buffers: no second thread needed.
    assert sender.sendfile(path, offset, count) == len(data[expected])
    sender.shutdown("write")
    assert read_to_eof(receiver) == data[expected]


def test_bad_offsets_and_counts_are_refused_before_anything_moves(
    ends: tuple[Stream, Stream], tmp_path: Path
) -> None:
    sender, receiver = ends
    path, _ = write_file(tmp_path, 100)
    with pytest.raises(ValueError, match="offset"):
        sender.sendfile(path, -1)
    with pytest.raises(ValueError, match="count"):
        sender.sendfile(path, 0, -1)
    with pytest.raises(TypeError, match="offset"):
        sender.sendfile(path, True)
    with pytest.raises(ValueError, match="count"):
        receiver.recv_into_file(tmp_path / "out", -1)
    assert_nothing_waiting(receiver)


# -- what can be sent --------------------------------------------------------------------------


def test_sources_path_str_and_pathlib(ends: tuple[Stream, Stream], tmp_path: Path) -> None:
    sender, receiver = ends
    path, data = write_file(tmp_path, 5000)
    assert sender.sendfile(str(path), 10, 100) == 100
    assert sender.sendfile(path, 4000) == 1000
    sender.shutdown("write")
    assert read_to_eof(receiver) == data[10:110] + data[4000:]


def test_source_binary_file_keeps_its_position(
    ends: tuple[Stream, Stream], mode: str, tmp_path: Path
) -> None:
    sender, receiver = ends
    path, data = write_file(tmp_path, 5000)
    with open(path, "rb") as fh:
        fh.seek(123)
        assert sender.sendfile(fh) == 5000  # offset 0 means the file's start, not its position
        assert fh.tell() == 123
        assert sender.sendfile(fh, 4990) == 10
        assert fh.tell() == 123
        assert fh.read(5) == data[123:128]  # still usable, nothing read ahead wrongly
    sender.shutdown("write")
    assert read_to_eof(receiver) == data + data[4990:]


def test_source_file_written_but_not_flushed(ends: tuple[Stream, Stream], tmp_path: Path) -> None:
    sender, receiver = ends
    data = payload(3000)
    with open(tmp_path / "fresh.bin", "w+b") as fh:
        fh.write(data)  # still in the object's buffer
        assert sender.sendfile(fh) == 3000
        assert fh.tell() == 3000
    sender.shutdown("write")
    assert read_to_eof(receiver) == data


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_source_proc_file_that_reports_size_zero(ends: tuple[Stream, Stream], mode: str) -> None:
    # /proc files are regular files of size 0 that still hold text; sendfile(2)
    # refuses some of them (EINVAL): either way the text must go out.
    sender, receiver = ends
    sent = sender.sendfile("/proc/self/status")
    sender.shutdown("write")
    text = read_to_eof(receiver)
    assert sent == len(text) > 0
    assert text.startswith(b"Name:")


def test_source_raw_descriptor_keeps_its_position(
    ends: tuple[Stream, Stream], mode: str, tmp_path: Path
) -> None:
    sender, receiver = ends
    path, data = write_file(tmp_path, 5000)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.lseek(fd, 77, os.SEEK_SET)
        assert sender.sendfile(fd, 1000, 2000) == 2000
        assert os.lseek(fd, 0, os.SEEK_CUR) == 77
    finally:
        os.close(fd)
    sender.shutdown("write")
    assert read_to_eof(receiver) == data[1000:3000]


def test_source_bytesio_falls_back(
    ends: tuple[Stream, Stream], tmp_path: Path, syscalls: dict[str, int]
) -> None:
    sender, receiver = ends
    data = payload(40_000)
    memory = io.BytesIO(data)
    memory.seek(42)
    assert sender.sendfile(memory) == 40_000
    assert sender.sendfile(memory, 39_000, 500) == 500
    assert sender.sendfile(memory, 39_900, 500) == 100  # the file ends first
    assert memory.tell() == 42
    assert syscalls["sendfile"] == 0
    sender.shutdown("write")
    assert read_to_eof(receiver) == data + data[39_000:39_500] + data[39_900:]


@contextlib.contextmanager
def filled_pipe(data: bytes) -> Iterator[int]:
    """The read end of a pipe holding *data* (which must fit its buffer), its write end closed."""
    read_end, write_end = os.pipe()
    try:
        try:
            os.write(write_end, data)
        finally:
            os.close(write_end)
        yield read_end
    finally:
        os.close(read_end)


def test_source_pipe_descriptor_falls_back(ends: tuple[Stream, Stream], syscalls: dict[str, int]) -> None:
    sender, receiver = ends
    data = payload(50_000)  # fits a pipe's 64 KiB
    with filled_pipe(data) as read_end:
        assert sender.sendfile(read_end, 0, 20_000) == 20_000
        assert sender.sendfile(read_end) == 30_000  # the rest: a pipe is consumed
    assert syscalls["sendfile"] == 0
    sender.shutdown("write")
    assert read_to_eof(receiver) == data


def test_source_pipe_file_object(ends: tuple[Stream, Stream]) -> None:
    sender, receiver = ends
    data = payload(50_000)
    with filled_pipe(data) as read_end:
        with open(read_end, "rb", closefd=False) as fh:
            assert fh.read(10) == data[:10]  # the object now holds read-ahead bytes
            assert sender.sendfile(fh) == 49_990
    sender.shutdown("write")
    assert read_to_eof(receiver) == data[10:]


def test_source_pipe_needs_offset_zero(ends: tuple[Stream, Stream]) -> None:
    sender, receiver = ends
    data = payload(1000)
    with filled_pipe(data) as read_end:
        with pytest.raises(ValueError, match="offset=0"):
            sender.sendfile(read_end, 1)
        assert os.read(read_end, 2000) == data  # not consumed
    assert_nothing_waiting(receiver)


def test_text_files_are_refused(ends: tuple[Stream, Stream], tmp_path: Path) -> None:
    sender, receiver = ends
    path, _ = write_file(tmp_path, 100)
    with open(path, encoding="latin-1") as text:
        with pytest.raises(TypeError, match="binary"):
            sender.sendfile(text)  # type: ignore[arg-type]
    with open(tmp_path / "out.txt", "w", encoding="utf-8") as text:
        with pytest.raises(TypeError, match="binary"):
            receiver.recv_into_file(text)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        sender.sendfile(True)
    with pytest.raises(TypeError):
        sender.sendfile(3.5)  # type: ignore[arg-type]
    assert_nothing_waiting(receiver)


# -- forbidding and forcing the fallback ---------------------------------------------------------


def test_no_fallback_with_bytesio_sends_nothing(ends: tuple[Stream, Stream]) -> None:
    sender, receiver = ends
    memory = io.BytesIO(b"x" * 1000)
    with pytest.raises(ZeroCopyUnavailable, match="fallback=True") as info:
        sender.sendfile(memory, headers=b"head", fallback=False)
    assert info.value.bytes_sent == 0
    assert info.value.op == "sendfile"
    assert memory.tell() == 0
    assert_nothing_waiting(receiver)


def test_no_fallback_with_a_pipe_sends_nothing(ends: tuple[Stream, Stream]) -> None:
    sender, receiver = ends
    data = payload(1000)
    with filled_pipe(data) as read_end:
        with pytest.raises(ZeroCopyUnavailable, match="not a regular file") as info:
            sender.sendfile(read_end, fallback=False)
        assert info.value.bytes_sent == 0
        assert isinstance(info.value, OSError)
        assert os.read(read_end, 2000) == data
    assert_nothing_waiting(receiver)


def test_no_fallback_without_sendfile_sends_nothing(
    ends: tuple[Stream, Stream], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sender, receiver = ends
    monkeypatch.setattr(zero_copy_files, "HAS_SENDFILE", False)
    path, _ = write_file(tmp_path, 1000)
    with pytest.raises(ZeroCopyUnavailable, match=r"sendfile\(2\) is not available"):
        sender.sendfile(path, fallback=False)
    assert_nothing_waiting(receiver)


def test_regular_files_use_sendfile(
    ends: tuple[Stream, Stream], tmp_path: Path, syscalls: dict[str, int]
) -> None:
    if not zero_copy_files.HAS_SENDFILE:
        pytest.skip("no sendfile(2) here")
    sender, receiver = ends
    path, data = write_file(tmp_path, 40_000)
    assert sender.sendfile(path, fallback=False) == len(data)
    assert syscalls["sendfile"] >= 1
    sender.shutdown("write")
    assert read_to_eof(receiver) == data


def test_forced_fallback_never_calls_sendfile(
    ends: tuple[Stream, Stream], tmp_path: Path, syscalls: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    sender, receiver = ends
    monkeypatch.setattr(zero_copy_files, "HAS_SENDFILE", False)
    path, data = write_file(tmp_path, 40_000)
    assert sender.sendfile(path, 3, 30_000) == 30_000
    assert syscalls["sendfile"] == 0
    sender.shutdown("write")
    assert read_to_eof(receiver) == data[3:30_003]


def refusing(code: int) -> Callable[..., int]:
    """A stand-in for os.sendfile/os.splice that the kernel refuses with *code*."""

    def refuse(*args: Any) -> int:
        raise OSError(code, os.strerror(code))

    return refuse


def test_kernel_refusal_falls_back(
    ends: tuple[Stream, Stream], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sender, receiver = ends
    monkeypatch.setattr(os, "sendfile", refusing(errno.EINVAL))
    path, data = write_file(tmp_path, 40_000)
    assert sender.sendfile(path, 5) == 39_995
    with pytest.raises(ZeroCopyUnavailable, match="EINVAL"):
        sender.sendfile(path, fallback=False)
    sender.shutdown("write")
    assert read_to_eof(receiver) == data[5:]


# -- headers, trailers and TCP_CORK ---------------------------------------------------------------


def test_headers_and_trailers_surround_the_body(
    ends: tuple[Stream, Stream], mode: str, tmp_path: Path
) -> None:
    sender, receiver = ends
    path, data = write_file(tmp_path, 30_000)
    head, tail = b"HEAD / 29900 bytes\r\n\r\n", bytearray(b"--end--")
    corked: list[int] = []

    def progress(total: int) -> None:
        if isinstance(sender, TCPTransport):
            corked.append(sender.raw_socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK))

    assert sender.sendfile(path, 100, headers=head, trailers=memoryview(tail), progress=progress) == 29_900
    assert sender.sendfile(path, 0, 10, headers=b"h") == 10  # headers alone
    assert sender.sendfile(path, 0, 10, trailers=b"t") == 10  # trailers alone
    if isinstance(sender, TCPTransport):
        assert corked  # the callback ran on TCP ...
        assert set(corked) == {1}  # ... and saw the socket corked while the body went out
        assert sender.raw_socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK) == 0
    sender.shutdown("write")
    assert read_to_eof(receiver) == head + data[100:] + tail + b"h" + data[:10] + data[:10] + b"t"


def test_cork_is_released_after_an_error(tmp_path: Path, tmp_sock_dir: Path) -> None:
    path = sparse_file(tmp_path, 64 * MiB)
    with open_ends("tcp", tmp_sock_dir) as (sender, _):
        assert isinstance(sender, TCPTransport)
        sender.timeout = 0.2
        with pytest.raises(TransportTimeout):
            sender.sendfile(path, headers=b"header")
        assert sender.raw_socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK) == 0


# -- progress ------------------------------------------------------------------------------------------


def test_progress_reports_increasing_totals(
    ends: tuple[Stream, Stream],
    mode: str,
    tmp_path: Path,
    background: Background,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(zero_copy_files, "PROGRESS_CHUNK", MiB)  # several reports from a small file
    sender, receiver = ends
    path, data = write_file(tmp_path, 3 * MiB + 7)
    sent: list[int] = []
    task = sending(background, sender, lambda: sender.sendfile(path, 7, progress=sent.append))
    got: list[int] = []
    out = tmp_path / "out.bin"
    assert receiver.recv_into_file(out, progress=got.append) == len(data) - 7
    assert task.result() == len(data) - 7
    for reports in (sent, got):
        assert len(reports) >= 2
        assert all(a < b for a, b in itertools.pairwise(reports))
        assert reports[-1] == len(data) - 7
    assert out.read_bytes() == data[7:]


# -- timeouts and a vanishing peer ---------------------------------------------------------------------


def test_timeout_when_the_peer_does_not_read(ends: tuple[Stream, Stream], mode: str, tmp_path: Path) -> None:
    sender, receiver = ends
    size = 64 * MiB  # far more than the socket buffers hold
    path = sparse_file(tmp_path, size)
    sender.timeout = 0.2
    started = time.monotonic()
    with pytest.raises(TransportTimeout) as info:
        sender.sendfile(path)
    elapsed = time.monotonic() - started
    err = info.value
    assert isinstance(err, TimeoutError)
    assert err.op == "sendfile"
    assert err.bytes_sent is not None
    assert 0 < err.bytes_sent < size
    assert "0.2 s" in str(err)
    assert 0.15 < elapsed < TIMEOUT
    assert sender.timeout == 0.2
    # Every byte reported as sent does arrive.
    sender.shutdown("write")
    assert hash_to_eof(receiver)[0] == err.bytes_sent


def test_non_blocking_sendfile_would_block(ends: tuple[Stream, Stream], mode: str, tmp_path: Path) -> None:
    sender, _ = ends
    size = 64 * MiB
    path = sparse_file(tmp_path, size)
    sender.timeout = 0
    with pytest.raises(WouldBlock) as info:
        sender.sendfile(path)
    assert info.value.bytes_sent is not None
    assert 0 < info.value.bytes_sent < size


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_peer_closing_mid_transfer(
    kind: str,
    mode: str,
    tmp_path: Path,
    tmp_sock_dir: Path,
    background: Background,
    fd_count: Callable[[], int],
) -> None:
    size = 64 * MiB
    path = sparse_file(tmp_path, size)
    before = fd_count()
    with open_ends(kind, tmp_sock_dir) as (sender, receiver):
        task = background.start(lambda: sender.sendfile(path), "sendfile-sender")
        assert len(receiver.recv_exactly(64 * KiB)) == 64 * KiB  # the transfer is under way
        if isinstance(receiver, TCPTransport):
            receiver.set_option(SO_LINGER, Linger(0))  # close with a reset
        receiver.close()
        with pytest.raises((ConnectionReset, BrokenPipe)) as info:
            task.result()
    err = info.value
    assert isinstance(err, BrokenPipe | ConnectionReset)
    assert err.op == "sendfile"
    assert err.bytes_sent is not None
    assert 64 * KiB <= err.bytes_sent < size
    assert fd_count() == before


SIGPIPE_CHILD = """
import signal, sys
signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # a vanished peer would kill us now
import transports

path = sys.argv[1]
a, b = transports.UnixStreamTransport.pair()
b.close()
with a:
    try:
        a.sendfile(path)
    except transports.BrokenPipe as exc:
        print("unix", type(exc).__name__, exc.bytes_sent)
with transports.TCPListener.listen("127.0.0.1", 0, timeout=5) as listener:
    with transports.TCPTransport.connect("127.0.0.1", listener.address.port, timeout=5) as client:
        listener.accept().close()
        assert client.recv(1) == b""
        try:
            for _ in range(100):
                client.sendfile(path)
        except (transports.BrokenPipe, transports.ConnectionReset) as exc:
            print("tcp", type(exc).__name__)
print("pending", signal.SIGPIPE in signal.sigpending())
"""


def test_no_sigpipe_from_sendfile_even_with_the_default_handler(tmp_path: Path) -> None:
    # sendfile(2) has no MSG_NOSIGNAL: without care a vanished peer kills the process.
    path, _ = write_file(tmp_path, 256 * KiB)
    result = subprocess.run(
        [sys.executable, "-c", SIGPIPE_CHILD, str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != -signal.SIGPIPE, "the child was killed by SIGPIPE"
    assert result.returncode == 0, result.stderr
    assert "unix BrokenPipe 0" in result.stdout
    assert "tcp " in result.stdout
    assert "pending False" in result.stdout


# -- recv_into_file ----------------------------------------------------------------------------------


def test_recv_into_file_object_at_its_position(
    ends: tuple[Stream, Stream], mode: str, tmp_path: Path
) -> None:
    sender, receiver = ends
    data = payload(60_000)
    sender.send_all(data)
    out = tmp_path / "out.bin"
    with open(out, "wb") as fh:
        fh.write(b"prefix:")  # still buffered in the object: must land first
        assert receiver.recv_into_file(fh, 60_000) == 60_000
        assert fh.tell() == 7 + 60_000
        fh.write(b":suffix")
    assert out.read_bytes() == b"prefix:" + data + b":suffix"


def test_recv_into_file_object_opened_for_update(
    ends: tuple[Stream, Stream], mode: str, tmp_path: Path
) -> None:
    sender, receiver = ends
    out = tmp_path / "out.bin"
    out.write_bytes(b"A" * 100)
    sender.send_all(b"XYZ")
    with open(out, "r+b") as fh:
        assert fh.read(10) == b"A" * 10  # the object has read ahead past position 10
        assert receiver.recv_into_file(fh, 3) == 3
        assert fh.tell() == 13
        assert fh.read(2) == b"AA"
    assert out.read_bytes() == b"A" * 10 + b"XYZ" + b"A" * 87


def test_recv_into_file_count_leaves_the_rest(ends: tuple[Stream, Stream], mode: str, tmp_path: Path) -> None:
    sender, receiver = ends
    data = payload(50_000)
    sender.send_all(data)
    out = tmp_path / "out.bin"
    assert receiver.recv_into_file(out, 30_000) == 30_000
    assert receiver.recv_into_file(out, 0) == 0  # a path is truncated
    assert out.read_bytes() == b""
    assert receiver.recv_exactly(20_000) == data[30_000:]


def test_recv_into_raw_descriptor(ends: tuple[Stream, Stream], mode: str, tmp_path: Path) -> None:
    sender, receiver = ends
    data = payload(70_000)
    sender.send_all(data)
    out = tmp_path / "out.bin"
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, b"0123")
        assert receiver.recv_into_file(fd, 70_000) == 70_000
        assert os.lseek(fd, 0, os.SEEK_CUR) == 4 + 70_000
    finally:
        os.close(fd)
    assert out.read_bytes() == b"0123" + data


def test_recv_into_file_eof_before_count(ends: tuple[Stream, Stream], mode: str, tmp_path: Path) -> None:
    sender, receiver = ends
    data = payload(1000)
    sender.send_all(data)
    sender.shutdown("write")
    out = tmp_path / "out.bin"
    with pytest.raises(UnexpectedEOF) as info:
        receiver.recv_into_file(out, 5000)
    err = info.value
    assert isinstance(err, EOFError)
    assert err.received == 1000
    assert err.expected == 5000
    assert err.op == "recv_into_file"
    assert "1000 of 5000" in str(err)
    assert out.read_bytes() == data  # the bytes that came are in the file


def test_recv_into_file_append_mode_falls_back(ends: tuple[Stream, Stream], tmp_path: Path) -> None:
    sender, receiver = ends
    data = payload(40_000)
    out = tmp_path / "log.bin"
    out.write_bytes(b"old;")
    sender.send_all(data)
    with open(out, "ab") as fh:
        assert receiver.recv_into_file(fh, 40_000) == 40_000
    assert out.read_bytes() == b"old;" + data


def test_recv_into_file_append_mode_without_fallback_consumes_nothing(
    ends: tuple[Stream, Stream], tmp_path: Path
) -> None:
    if not zero_copy_files.HAS_SPLICE:
        pytest.skip("no splice(2) here")
    sender, receiver = ends
    data = payload(1000)
    out = tmp_path / "log.bin"
    sender.send_all(data)
    with open(out, "ab") as fh:
        with pytest.raises(ZeroCopyUnavailable, match="O_APPEND") as info:
            receiver.recv_into_file(fh, fallback=False)
    assert info.value.op == "recv_into_file"
    assert receiver.recv_exactly(1000) == data  # still waiting in the socket
    assert out.read_bytes() == b""


def test_recv_into_an_in_memory_file(ends: tuple[Stream, Stream]) -> None:
    sender, receiver = ends
    data = payload(150_000)  # fits the socket buffers: no sender thread needed
    sender.send_all(data)
    target = io.BytesIO()
    target.write(b"head:")
    assert receiver.recv_into_file(target, len(data)) == len(data)
    assert target.getvalue() == b"head:" + data
    sender.send_all(b"more")
    with pytest.raises(ZeroCopyUnavailable, match="in-memory"):
        receiver.recv_into_file(io.BytesIO(), fallback=False)
    assert receiver.recv_exactly(4) == b"more"  # refused before anything was read


def test_fallback_timeout_covers_the_whole_call(
    ends: tuple[Stream, Stream], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The peer trickles bytes in faster than the timeout, so a per-chunk timeout
    # would never fire; the whole call must still end about when it says.
    sender, receiver = ends
    monkeypatch.setattr(zero_copy_files, "HAS_SPLICE", False)
    receiver.timeout = 0.3
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(0.05):  # a paced peer, not a synchronisation sleep
            sender.send_all(b"x")

    thread = threading.Thread(target=trickle)
    thread.start()
    try:
        started = time.monotonic()
        with pytest.raises(TransportTimeout, match=r"timeout of 0\.3 s") as info:
            receiver.recv_into_file(io.BytesIO(), 10_000)
        assert time.monotonic() - started < 2.0
        assert info.value.bytes_sent is not None
        assert info.value.bytes_sent > 0
    finally:
        stop.set()
        thread.join(TIMEOUT)
    assert receiver.timeout == 0.3


def test_recv_into_file_without_splice_and_no_fallback(
    ends: tuple[Stream, Stream], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sender, receiver = ends
    monkeypatch.setattr(zero_copy_files, "HAS_SPLICE", False)
    sender.send_all(b"abc")
    with pytest.raises(ZeroCopyUnavailable, match=r"splice\(2\) is not available"):
        receiver.recv_into_file(tmp_path / "out", fallback=False)
    assert receiver.recv_exactly(3) == b"abc"


def test_recv_into_file_uses_splice(
    ends: tuple[Stream, Stream], tmp_path: Path, syscalls: dict[str, int]
) -> None:
    if not zero_copy_files.HAS_SPLICE:
        pytest.skip("no splice(2) here")
    sender, receiver = ends
    data = payload(40_000)
    sender.send_all(data)
    assert receiver.recv_into_file(tmp_path / "out", 40_000, fallback=False) == 40_000
    assert syscalls["splice"] >= 2
    assert (tmp_path / "out").read_bytes() == data


def test_recv_into_file_socket_refuses_splice(
    ends: tuple[Stream, Stream], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sender, receiver = ends
    monkeypatch.setattr(os, "splice", refusing(errno.EINVAL))
    data = payload(40_000)
    sender.send_all(data)
    with pytest.raises(ZeroCopyUnavailable, match="EINVAL"):
        receiver.recv_into_file(tmp_path / "out", fallback=False)
    assert receiver.recv_into_file(tmp_path / "out", 40_000) == 40_000
    assert (tmp_path / "out").read_bytes() == data


@pytest.mark.parametrize("fallback", [True, False])
def test_recv_into_file_file_refuses_splice(
    ends: tuple[Stream, Stream], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fallback: bool
) -> None:
    # The file refuses only after the first bytes already left the socket for the pipe:
    # they must reach the file anyway, and nothing may be lost.
    if not zero_copy_files.HAS_SPLICE:
        pytest.skip("no splice(2) here")
    sender, receiver = ends
    real_splice = os.splice
    socket_fd = receiver.fileno()

    def splice(src: int, dst: int, count: int, *args: Any) -> int:
        if src != socket_fd:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        return real_splice(src, dst, count, *args)

    monkeypatch.setattr(os, "splice", splice)
    data = payload(40_000)
    sender.send_all(data)
    out = tmp_path / "out.bin"
    if fallback:
        assert receiver.recv_into_file(out, 40_000) == 40_000
        assert out.read_bytes() == data
        return
    with pytest.raises(ZeroCopyUnavailable) as info:
        receiver.recv_into_file(out, 40_000, fallback=False)
    moved = info.value.bytes_sent
    assert moved is not None
    assert 0 < moved <= 40_000
    assert out.read_bytes() == data[:moved]
    assert receiver.recv_exactly(40_000 - moved) == data[moved:]


def test_recv_into_file_times_out_when_nothing_arrives(
    ends: tuple[Stream, Stream], mode: str, tmp_path: Path
) -> None:
    sender, receiver = ends
    receiver.timeout = 0.2
    started = time.monotonic()
    with pytest.raises(TransportTimeout) as info:
        receiver.recv_into_file(tmp_path / "out", 10)
    assert 0.15 < time.monotonic() - started < TIMEOUT
    assert info.value.op == "recv_into_file"
    assert info.value.bytes_sent == 0
    # Partly there: the error counts the bytes already in the file.
    sender.send_all(b"12345")
    with pytest.raises(TransportTimeout) as info:
        receiver.recv_into_file(tmp_path / "out", 10)
    assert info.value.bytes_sent == 5
    assert (tmp_path / "out").read_bytes() == b"12345"


# -- which kinds have sendfile ----------------------------------------------------------------------


def test_stream_transports_are_sendfile_capable() -> None:
    a, b = UnixStreamTransport.pair()
    with a, b:
        assert isinstance(a, SendfileCapable)
    assert hasattr(TCPTransport, "sendfile")
    assert hasattr(TCPTransport, "recv_into_file")


@pytest.mark.skipif(not LINUX, reason="the 64 KiB split is Linux behaviour")
def test_seqpacket_has_no_sendfile_because_linux_splits_messages(tmp_path: Path) -> None:
    # The reason seqpacket has no sendfile, checked against the kernel: one
    # sendfile(2) call of 200,000 bytes arrives as several 64 KiB messages.
    assert not hasattr(UnixSeqpacketTransport, "sendfile")
    a, b = UnixSeqpacketTransport.pair()
    with a, b:
        assert not isinstance(a, SendfileCapable)
        path, data = write_file(tmp_path, 200_000)
        a.raw_socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * MiB)
        b.raw_socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * MiB)
        with open(path, "rb") as fh:
            assert os.sendfile(a.fileno(), fh.fileno(), 0, len(data)) == len(data)
        sizes = []
        received = b""
        while len(received) < len(data):
            message = b.recv(MiB)
            sizes.append(len(message))
            received += message
    assert received == data
    assert sizes[0] == 64 * KiB
    assert len(sizes) > 1


# -- interop with socat --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def socat() -> str:
    """The socat program; missing, it skips the test, or fails it when CI requires socat."""
    path = shutil.which("socat")
    if path is None:
        if os.environ.get("TRANSPORTS_REQUIRE_SOCAT") == "1":
            pytest.fail("socat is not installed but TRANSPORTS_REQUIRE_SOCAT=1 requires it")
        pytest.skip("socat is not installed (set TRANSPORTS_REQUIRE_SOCAT=1 to fail instead)")
    return path


@contextlib.contextmanager
def socat_process(exe: str, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run socat; it is killed and reaped when the block ends, finished or not."""
    proc = subprocess.Popen(
        [exe, "-d", *args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=TIMEOUT)


def socat_finished(proc: subprocess.Popen[bytes]) -> None:
    try:
        _, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"socat did not exit within {TIMEOUT} s") from None
    assert proc.returncode == 0, f"socat exited with {proc.returncode}: {err.decode(errors='replace')}"


@contextlib.contextmanager
def listening(kind: str, directory: Path) -> Iterator[tuple[TCPListener | UnixListener, str]]:
    """Our listener and socat's name for connecting to it."""
    if kind == "tcp":
        with TCPListener.listen("127.0.0.1", 0, timeout=TIMEOUT) as tcp:
            yield tcp, f"TCP:127.0.0.1:{tcp.address.port}"
    else:
        path = directory / "ours.sock"
        with UnixListener.listen(path, timeout=TIMEOUT) as unix:
            yield unix, f"UNIX-CONNECT:{path}"


@pytest.mark.socat
@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_socat_receives_our_sendfile(socat: str, kind: str, tmp_path: Path, tmp_sock_dir: Path) -> None:
    path, data = write_file(tmp_path, 3 * MiB + 7)
    out = tmp_path / "socat-out.bin"
    with listening(kind, tmp_sock_dir) as (listener, peer):
        with socat_process(socat, "-u", peer, f"CREATE:{out}") as proc:
            with listener.accept() as conn:
                conn.timeout = TIMEOUT
                assert conn.sendfile(path, headers=b"<", trailers=b">") == len(data)
            socat_finished(proc)
    assert sha(out.read_bytes()) == sha(b"<" + data + b">")


@pytest.mark.socat
@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_socat_sends_into_our_recv_into_file(
    socat: str, kind: str, tmp_path: Path, tmp_sock_dir: Path
) -> None:
    path, data = write_file(tmp_path, 3 * MiB + 7)
    out = tmp_path / "ours-out.bin"
    with listening(kind, tmp_sock_dir) as (listener, peer):
        with socat_process(socat, "-u", f"FILE:{path}", peer) as proc:
            with listener.accept() as conn:
                conn.timeout = TIMEOUT
                assert conn.recv_into_file(out) == len(data)
            socat_finished(proc)
    assert sha(out.read_bytes()) == sha(data)
