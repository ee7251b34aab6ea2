"""recv_into_file and its target file: refused before the stream is touched, or an honest file error (APUE 14.7, 16.5).

A file that cannot be written is a caller's mistake (ValueError) found before
a byte leaves the socket. A write that fails later (a full device, a file
size limit, a pipe without a reader, a file object that raises) is the
file's fault, never a transport error: FileWriteError says how many bytes
were taken from the stream (``received``), how many reached the file
(``written``) and hands back the rest (``partial``), so that the file, the
error and what is still in the stream add up to exactly what was sent. Each
case runs over the splice(2) path and the copy loop, on TCP and Unix streams.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import pickle
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, cast

import pytest

import transports._core.files as zero_copy_files
from conftest import Background, assert_no_fd_leak
from test_sendfile import Stream, open_ends, payload, read_to_eof, send_all_counted, sending
from transports import TransportClosed, TransportError, TransportTimeout
from transports.errors import FileWriteError

KiB = 1 << 10


@pytest.fixture(params=["tcp", "unix"])
def ends(request: pytest.FixtureRequest, tmp_sock_dir: Path) -> Iterator[tuple[Stream, Stream]]:
    """A connected (sender, receiver) pair over TCP loopback and over a Unix stream."""
    with open_ends(request.param, tmp_sock_dir) as pair:
        yield pair


@pytest.fixture(params=["splice", "fallback"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Receive with splice(2), or with it forced off (the recv_into/write loop)."""
    if request.param == "splice" and not zero_copy_files.HAS_SPLICE:
        pytest.skip("splice(2) is not available here")
    if request.param == "fallback":
        monkeypatch.setattr(zero_copy_files, "HAS_SPLICE", False)
    return str(request.param)


class FailingFile(io.RawIOBase):
    """A writable file without a descriptor: takes *room* bytes, then every write raises *error*."""

    def __init__(self, room: int, error: BaseException) -> None:
        super().__init__()
        self.room = room
        self.error = error
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, buffer: Any) -> int:
        with memoryview(buffer) as view:
            if not self.room:
                raise self.error
            taken = min(len(view), self.room)  # a short write, as a raw file may make
            self.data += view[:taken]
            self.room -= taken
            return taken


def as_target(file: FailingFile) -> IO[bytes]:
    """A raw binary file is what recv_into_file writes through; typeshed types it apart from IO[bytes]."""
    return cast(IO[bytes], file)


def assert_adds_up(err: FileWriteError, in_file: bytes, rest: bytes, data: bytes) -> None:
    """The file, the error's partial and what stayed in the stream are exactly what was sent."""
    assert err.written == len(in_file)
    assert err.received == err.written + len(err.partial)
    assert in_file == data[: err.written]
    assert err.partial == data[err.written : err.received]
    assert rest == data[err.received :]


def assert_is_a_file_error(err: BaseException) -> None:
    assert not isinstance(err, TransportError)  # never the connection's (BrokenPipe, TransportClosed ...)
    assert isinstance(err, FileWriteError)
    assert isinstance(err, OSError)  # but an OS error of the file: `except OSError` still sees it
    assert err.op == "recv_into_file"
    assert f"{err.received} bytes were taken from the stream" in str(err)
    assert "the transport is still open" in str(err)


# -- refused before a byte is taken ---------------------------------------------------------------


@contextlib.contextmanager
def read_only_object(path: Path) -> Iterator[Any]:
    with open(path, "rb") as file:
        yield file


@contextlib.contextmanager
def read_only_descriptor(path: Path) -> Iterator[Any]:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        yield fd
    finally:
        os.close(fd)


@contextlib.contextmanager
def writer_over_a_read_only_descriptor(path: Path) -> Iterator[Any]:
    # The object believes it can write; the descriptor under it cannot.
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    with open(fd, "wb") as file:
        yield file


@contextlib.contextmanager
def closed_object(path: Path) -> Iterator[Any]:
    file = open(path, "r+b")  # noqa: SIM115 - closed at once, on purpose
    file.close()
    yield file


@contextlib.contextmanager
def closed_descriptor(path: Path) -> Iterator[Any]:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    os.close(fd)
    yield fd


UNWRITABLE: dict[str, Callable[[Path], contextlib.AbstractContextManager[Any]]] = {
    "file object opened rb": read_only_object,
    "descriptor opened O_RDONLY": read_only_descriptor,
    "wb object over an O_RDONLY descriptor": writer_over_a_read_only_descriptor,
    "closed file object": closed_object,
    "closed descriptor": closed_descriptor,
}


@pytest.mark.parametrize("case", list(UNWRITABLE))
@pytest.mark.parametrize("count", [None, 3000])
def test_an_unwritable_file_is_refused_before_a_byte_is_taken(
    ends: tuple[Stream, Stream], mode: str, tmp_path: Path, case: str, count: int | None
) -> None:
    sender, receiver = ends
    data = payload(3000)
    sender.send_all(data)
    out = tmp_path / "kept.bin"
    out.write_bytes(b"untouched")
    with UNWRITABLE[case](out) as target, pytest.raises(ValueError, match=r"^recv_into_file: ") as info:
        receiver.recv_into_file(target, count)
    err = info.value
    # A caller's mistake: a retry loop on OSError (or on TransportClosed) must not swallow it.
    assert not isinstance(err, OSError)
    message = str(err)
    assert message.startswith("recv_into_file: ")
    named = f"descriptor {target}" if case == "closed descriptor" else str(out)
    assert named in message  # it names the file ...
    assert "open" in message.rsplit(";", maxsplit=1)[-1]  # ... and says what to do
    assert not receiver.closed
    assert receiver.recv_exactly(len(data)) == data  # every byte is still there
    assert out.read_bytes() == b"untouched"


def test_the_refusal_says_which_mode_the_file_has(ends: tuple[Stream, Stream], tmp_path: Path) -> None:
    _, receiver = ends
    (tmp_path / "r.bin").touch()
    with (
        open(tmp_path / "r.bin", "rb") as file,
        pytest.raises(ValueError, match=r"not open for writing \(mode 'rb'\)"),
    ):
        receiver.recv_into_file(file)
    fd = os.open(tmp_path / "r.bin", os.O_RDONLY | os.O_CLOEXEC)
    try:
        with pytest.raises(ValueError, match=r"is open read-only.*O_WRONLY or os\.O_RDWR"):
            receiver.recv_into_file(fd)
    finally:
        os.close(fd)


# -- real write failures ----------------------------------------------------------------------------


def test_a_full_device_is_a_file_error_holding_the_bytes_it_missed(
    ends: tuple[Stream, Stream], mode: str
) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    sender, receiver = ends
    data = payload(100 * KiB)
    sender.send_all(data)
    with assert_no_fd_leak(), open("/dev/full", "wb") as full, pytest.raises(FileWriteError) as info:
        receiver.recv_into_file(full, len(data))
    err = info.value
    assert_is_a_file_error(err)
    assert err.errno == errno.ENOSPC
    assert err.filename == "/dev/full"
    assert "'/dev/full'" in str(err)
    assert "(ENOSPC); free space" in str(err)
    assert err.received > 0
    assert not receiver.closed
    rest = receiver.recv_exactly(len(data) - err.received)
    assert_adds_up(err, b"", rest, data)


def test_a_pipe_whose_reader_left_is_a_file_error_not_a_broken_connection(
    ends: tuple[Stream, Stream], mode: str
) -> None:
    sender, receiver = ends
    data = payload(20 * KiB)
    sender.send_all(data)
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        with pytest.raises(FileWriteError) as info:
            receiver.recv_into_file(write_end, len(data))
    finally:
        os.close(write_end)
    err = info.value
    assert_is_a_file_error(err)  # not BrokenPipe: the peer of the *connection* is fine
    assert err.errno == errno.EPIPE
    assert "reader of that pipe" in str(err)
    rest = receiver.recv_exactly(len(data) - err.received)
    assert_adds_up(err, b"", rest, data)


SIGPIPE_SCRIPT = r"""
import errno, os, signal, sys
import transports._core.files as zero_copy_files
from transports import UnixStreamTransport
from transports.errors import FileWriteError

if sys.argv[1] == "fallback":
    zero_copy_files.HAS_SPLICE = False
signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # a program that asked for the classic behaviour back
a, b = UnixStreamTransport.pair()
with a, b:
    b.timeout = 10
    a.send_all(b"x" * 1000)
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        b.recv_into_file(write_end, 1000)
    except FileWriteError as err:
        print("FileWriteError", errno.errorcode[err.errno], err.received, err.written, len(err.partial))
    finally:
        os.close(write_end)
print("pending", signal.SIGPIPE in signal.sigpending())
"""


def test_a_pipe_without_reader_does_not_kill_a_process_with_the_default_sigpipe(mode: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SIGPIPE_SCRIPT, mode],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != -signal.SIGPIPE, "the process was killed by SIGPIPE"
    assert done.returncode == 0, done.stderr
    assert "FileWriteError EPIPE 1000 0 1000" in done.stdout
    assert "pending False" in done.stdout


@pytest.fixture
def room(monkeypatch: pytest.MonkeyPatch) -> Callable[[int, int], None]:
    """Make one descriptor behave like a disk with *free* bytes left: then ENOSPC, for splice and write."""
    real_splice, real_write = os.splice, os.write
    state = {"fd": -1, "free": 0}

    def take(count: int) -> int:
        if not state["free"]:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        allowed = min(count, state["free"])
        state["free"] -= allowed
        return allowed

    def splice(src: int, dst: int, count: int, *args: Any) -> int:
        if dst != state["fd"]:
            return real_splice(src, dst, count, *args)
        allowed = take(count)
        moved = real_splice(src, dst, allowed, *args)
        state["free"] += allowed - moved  # the pipe held less than allowed
        return moved

    def write(fd: int, data: Any) -> int:
        if fd != state["fd"]:
            return real_write(fd, data)
        with memoryview(data) as view:
            return real_write(fd, view[: take(len(view))])

    def arm(fd: int, free: int) -> None:
        state["fd"], state["free"] = fd, free

    monkeypatch.setattr(os, "splice", splice)
    monkeypatch.setattr(os, "write", write)
    return arm


@pytest.mark.parametrize("free", [0, 1000, 150_000])
def test_a_disk_that_fills_up_part_way_gives_true_counts(
    ends: tuple[Stream, Stream],
    mode: str,
    tmp_path: Path,
    background: Background,
    room: Callable[[int, int], None],
    free: int,
) -> None:
    # Several chunks reach the file before it fills up in the middle of one.
    sender, receiver = ends
    data = payload(600 * KiB)
    task = sending(background, sender, lambda: send_all_counted(sender, data))
    out = tmp_path / "out.bin"
    with open(out, "wb") as file:
        room(file.fileno(), free)
        with pytest.raises(FileWriteError) as info:
            receiver.recv_into_file(file)
    err = info.value
    assert_is_a_file_error(err)
    assert err.errno == errno.ENOSPC
    assert err.filename == str(out)
    assert err.written == free
    rest = read_to_eof(receiver)
    assert task.result() == len(data)
    assert_adds_up(err, out.read_bytes(), rest, data)


@pytest.mark.parametrize("failure", [errno.EBADF, errno.EIO])
def test_a_file_object_whose_write_raises_oserror(
    ends: tuple[Stream, Stream], failure: int, background: Background
) -> None:
    # EBADF from the *file* was reported as TransportClosed ("the transport is closed").
    sender, receiver = ends
    data = payload(300 * KiB)
    task = sending(background, sender, lambda: send_all_counted(sender, data))
    target = FailingFile(100_000, OSError(failure, os.strerror(failure)))
    with pytest.raises(FileWriteError) as info:
        receiver.recv_into_file(as_target(target))
    err = info.value
    assert_is_a_file_error(err)
    assert not issubclass(FileWriteError, TransportClosed)
    assert err.errno == failure
    assert err.filename is None  # an object without a name
    rest = read_to_eof(receiver)
    assert task.result() == len(data)
    assert_adds_up(err, bytes(target.data), rest, data)


def test_a_file_object_raising_something_else_keeps_the_bytes_too(
    ends: tuple[Stream, Stream], background: Background
) -> None:
    sender, receiver = ends
    data = payload(300 * KiB)
    task = sending(background, sender, lambda: send_all_counted(sender, data))
    target = FailingFile(100_000, ValueError("I/O operation on closed file"))
    with pytest.raises(ValueError, match="closed file") as info:
        receiver.recv_into_file(as_target(target))
    err: Any = info.value
    assert not isinstance(err, OSError)  # not ours to turn into something else
    assert any("reached the file" in note for note in err.__notes__)
    rest = read_to_eof(receiver)
    assert task.result() == len(data)
    assert err.written == 100_000
    assert bytes(target.data) + err.partial + rest == data


FSIZE_SCRIPT = r"""
import json, os, resource, signal, sys, threading
import transports._core.files as zero_copy_files
from transports import TransportError, UnixStreamTransport
from transports.errors import FileWriteError

mode, path, limit, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if mode == "fallback":
    zero_copy_files.HAS_SPLICE = False
data = bytes(range(256)) * (size // 256)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a killed process
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
a, b = UnixStreamTransport.pair()
with a, b:
    a.timeout = b.timeout = 10

    def send() -> None:
        a.send_all(data)
        a.shutdown("write")

    sender = threading.Thread(target=send)
    sender.start()
    try:
        b.recv_into_file(path)
        result = {"error": None}
    except FileWriteError as err:
        rest = b""
        while chunk := b.recv(1 << 20):
            rest += chunk
        in_file = open(path, "rb").read()
        result = {
            "error": type(err).__name__,
            "transport_error": isinstance(err, TransportError),
            "errno": err.errno,
            "received": err.received,
            "written": err.written,
            "file_size": len(in_file),
            "adds_up": in_file + err.partial + rest == data,
            "message": str(err),
        }
    sender.join(10)
print(json.dumps(result))
"""


def test_the_file_size_limit_efbig_in_a_subprocess(mode: str, tmp_path: Path) -> None:
    limit, size = 100_000, 512 * KiB
    out = tmp_path / "limited.bin"
    done = subprocess.run(
        [sys.executable, "-c", FSIZE_SCRIPT, mode, str(out), str(limit), str(size)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["error"] == "FileWriteError", result
    assert not result["transport_error"]
    assert result["errno"] == errno.EFBIG
    assert result["written"] == limit == result["file_size"]  # the kernel let exactly the limit in
    assert result["received"] > limit
    assert result["adds_up"]
    assert "RLIMIT_FSIZE" in result["message"]


def test_file_write_error_survives_pickling(ends: tuple[Stream, Stream]) -> None:
    sender, receiver = ends
    sender.send_all(b"0123456789")
    target = FailingFile(4, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    with pytest.raises(FileWriteError) as info:
        receiver.recv_into_file(as_target(target), 10)
    err = info.value
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is FileWriteError
    assert (copy.errno, copy.received, copy.written, copy.partial) == (errno.ENOSPC, 10, 4, b"456789")
    assert (copy.op, copy.address, copy.filename) == (err.op, err.address, err.filename)
    assert str(copy) == str(err)


# -- the count in a connection error ----------------------------------------------------------------


def test_a_timeout_says_how_many_bytes_were_received(
    ends: tuple[Stream, Stream], mode: str, tmp_path: Path
) -> None:
    sender, receiver = ends
    receiver.timeout = 0.2
    sender.send_all(b"12345")
    with pytest.raises(TransportTimeout) as info:
        receiver.recv_into_file(tmp_path / "out", 10)
    err = info.value
    assert err.bytes_sent == 5
    assert "5 bytes were received" in str(err)
    assert "sent" not in str(err)
    assert (tmp_path / "out").read_bytes() == b"12345"
