"""The files of a zero-copy transfer: what ``sendfile`` reads, what ``recv_into_file`` writes.

The socket side of the transfer is :mod:`transports._core.zerocopy`; this
module holds the file side, which waits for nothing: opening and checking a
:class:`Source` or a :class:`Target` before any byte moves, positioned reads
(``preadv``, :apue:`14.6`), writes that keep count of what reached the file
(:apue:`14.7`), and the pipe ``splice(2)`` goes through.

It also holds what the platform offers (``HAS_SENDFILE``, ``HAS_SPLICE``) and
the chunk sizes, read at call time, so that a test can turn zero copy off by
setting them here.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
import sys
from collections.abc import Callable
from types import TracebackType
from typing import IO, Any, TypeAlias, cast

from transports._core.validate import check_size
from transports.protocols import FileSource, FileTarget

#: Called with the running total of file bytes moved so far.
Progress: TypeAlias = Callable[[int], None]

LINUX = sys.platform.startswith("linux")
HAS_SENDFILE = LINUX and hasattr(os, "sendfile")
HAS_SPLICE = LINUX and hasattr(os, "splice")
#: Linux moves at most this much in one sendfile call.
SENDFILE_MAX = 0x7FFFF000
#: Chunk for the fallback loops and for progress reports.
FALLBACK_CHUNK = 256 * 1024
PROGRESS_CHUNK = 8 << 20
#: Pipe size asked for when splicing (the kernel caps it for unprivileged users).
PIPE_SIZE = 1 << 20
#: errnos meaning "sendfile/splice cannot do this pair of descriptors".
NO_ZERO_COPY = frozenset({errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSOCK, errno.ESPIPE})

#: Attribute a write error carries: the bytes of the failed chunk that did reach the file.
_WRITTEN = "_transports_written"


def check_count(count: int | None) -> int | None:
    """*count* checked as a size, or ``None`` (to the end)."""
    return None if count is None else check_size("count", count)


def check_progress(progress: Progress | None) -> None:
    """Refuse a *progress* that cannot be called, before any byte moves (not at the first report)."""
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be a callable taking the running total, or None, got {progress!r}")


def is_text(file: object) -> bool:
    """Whether *file* is a text file: typed callers cannot pass one, untyped ones can."""
    return isinstance(file, io.TextIOBase)


class Source:
    """A file to read from: a descriptor when there is one, else a file object."""

    def __init__(self, file: FileSource) -> None:
        self.fd: int | None = None
        self.obj: IO[bytes] | None = None
        self._owned: IO[bytes] | None = None
        if isinstance(file, bool):
            raise TypeError(f"sendfile needs a path, a binary file or a descriptor, got {file!r}")
        if isinstance(file, int):
            self.fd = file
        elif isinstance(file, str | os.PathLike):
            self._owned = self.obj = open(file, "rb")  # noqa: SIM115 - closed by close()
            self.fd = self._owned.fileno()
        elif is_text(file):
            raise TypeError(f"sendfile needs a binary file; open {file!r} with mode 'rb'")
        elif hasattr(file, "readinto") or hasattr(file, "read"):
            self.obj = file
            try:
                self.fd = file.fileno()
            except (OSError, AttributeError, ValueError):
                self.fd = None  # BytesIO and friends: no descriptor
            if self.fd is not None and hasattr(file, "flush"):
                file.flush()  # what the object still buffers must be in the file we read by descriptor
        else:
            raise TypeError(f"sendfile needs a path, a binary file or a descriptor, got {file!r}")
        self.mode = os.fstat(self.fd).st_mode if self.fd is not None else 0

    @property
    def regular(self) -> bool:
        return stat.S_ISREG(self.mode)

    @property
    def seekable(self) -> bool:
        """Whether it can be read at any offset (a regular file or a seekable file object)."""
        if self.fd is not None:
            return self.regular
        return self.obj is not None and self.obj.seekable()

    def read_into(self, view: memoryview, position: int) -> int:
        """Read into *view*: positioned for regular files, through the object or descriptor otherwise."""
        if self.fd is not None and self.regular:
            return os.preadv(self.fd, [view], position)
        obj: Any = self.obj
        if obj is None:
            assert self.fd is not None
            return os.readv(self.fd, [view])
        # A file object may hold read-ahead bytes of a pipe: read through it, not its descriptor.
        if hasattr(obj, "readinto"):
            return int(obj.readinto(view) or 0)
        data = obj.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if self._owned is not None:
            self._owned.close()


class Target:
    """The file ``recv_into_file`` writes to, checked for writing before any byte is taken from the stream."""

    def __init__(self, file: FileTarget) -> None:
        self.fd = -1
        self.filename: str | None = None
        self._owned: IO[bytes] | None = None
        obj: IO[bytes] | None = None
        if isinstance(file, bool) or not (
            isinstance(file, int | str | os.PathLike) or hasattr(file, "write")
        ):
            raise TypeError(f"recv_into_file needs a path, a binary file or a descriptor, got {file!r}")
        if isinstance(file, int):
            link = _fd_path(file)
            self.filename = link if link is not None and link.startswith("/") else None
            self.name = f"descriptor {file}" + (f" ({link})" if link else "")
            _check_writable_fd(file, self.name)
            self.fd = file
        elif isinstance(file, str | os.PathLike):
            # A missing directory or a denied path is the OSError open() raises, naming the path.
            self._owned = obj = open(file, "wb")  # noqa: SIM115 - closed by close()
            self.fd = obj.fileno()
            self.filename = os.fsdecode(file)
            self.name = repr(self.filename)
        elif is_text(file):
            raise TypeError(f"recv_into_file needs a binary file; open {file!r} with mode 'wb'")
        else:
            obj = file
            name = getattr(file, "name", None)
            if isinstance(name, str):
                self.filename = name
            elif isinstance(name, int) and not isinstance(name, bool):
                link = _fd_path(name)  # open(fd, "wb") names the object by its descriptor
                self.filename = link if link is not None and link.startswith("/") else None
            self.name = repr(self.filename) if self.filename else repr(file)
            if getattr(file, "closed", False) is True:
                raise ValueError(f"recv_into_file: the file {self.name} is closed; pass an open binary file")
            writable = getattr(file, "writable", None)
            if callable(writable) and not writable():
                mode = getattr(file, "mode", None)
                opened = f" (mode {mode!r})" if isinstance(mode, str) else ""
                raise ValueError(
                    f"recv_into_file: the file {self.name} is not open for writing{opened}; "
                    "open it with mode 'wb', 'r+b' or 'ab'"
                )
            file.flush()  # what the file object buffered must land before our bytes
            try:
                self.fd = file.fileno()
            except (OSError, AttributeError, ValueError):
                self.fd = -1  # an in-memory file (BytesIO): written through the object
            if self.fd >= 0:
                _check_writable_fd(self.fd, self.name)  # an object may think it can write to a read-only fd
        self.write = _fd_writer(self.fd) if self.fd >= 0 else _object_writer(cast(IO[bytes], obj))

    def splice_refusal(self) -> str | None:
        """Why splice(2) cannot write to this file, found before a byte is taken; None if it can."""
        if self.fd < 0:
            return "the target is an in-memory file with no descriptor"
        if not HAS_SPLICE:
            return f"splice(2) is not available on {sys.platform}"
        if _fd_flags(self.fd) & os.O_APPEND:
            return "the file is open for appending (O_APPEND)"
        return None

    def close(self) -> None:
        if self._owned is not None:
            self._owned.close()

    def __enter__(self) -> Target:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _check_writable_fd(fd: int, name: str) -> None:
    """Refuse a descriptor that is not open, or not open for writing, before the stream is touched."""
    if fd < 0:
        raise ValueError(
            f"recv_into_file: {fd} is not a file descriptor; pass an open one, a binary file or a path"
        )
    try:
        flags = _fd_flags(fd)
    except OSError as exc:
        raise ValueError(
            f"recv_into_file: {name} is not open ({errno.errorcode.get(exc.errno or 0, exc)}); "
            "pass an open descriptor, a binary file or a path"
        ) from exc
    if flags & os.O_ACCMODE not in (os.O_WRONLY, os.O_RDWR):
        raise ValueError(
            f"recv_into_file: {name} is open read-only, so nothing can be written to it; open the file "
            "for writing (os.O_WRONLY or os.O_RDWR; mode 'wb', 'r+b' or 'ab' with open())"
        )


def _fd_path(fd: int) -> str | None:
    """The path a descriptor was opened with, where the system says (Linux /proc), for messages."""
    if not LINUX or fd < 0:
        return None
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None


def _fd_flags(fd: int) -> int:
    import fcntl

    return fcntl.fcntl(fd, fcntl.F_GETFL)


# -- writing, with the count of what reached the file -----------------------------------------


def written_before(exc: BaseException) -> int:
    """How many bytes of the chunk whose write raised *exc* did reach the file."""
    return int(getattr(exc, _WRITTEN, 0))


def _mark_written(exc: BaseException, count: int) -> None:
    with contextlib.suppress(AttributeError, TypeError):
        setattr(exc, _WRITTEN, count)


def _fd_writer(fd: int) -> Callable[[memoryview], None]:
    def write(view: memoryview) -> None:
        total = 0
        try:
            while view:
                written = os.write(fd, view)
                total += written
                view = view[written:]
        except BaseException as exc:
            _mark_written(exc, total)
            raise

    return write


def _object_writer(obj: IO[bytes]) -> Callable[[memoryview], None]:
    def write(view: memoryview) -> None:
        total = 0
        try:
            while view:
                written: int | None = obj.write(view)
                # Raw files may take less; buffered ones take all (and may say None).
                step = len(view) if written is None else written
                total += step
                view = view[step:]
        except BlockingIOError as exc:
            # A non-blocking buffered file took some.
            _mark_written(exc, total + (exc.characters_written or 0))
            raise
        except BaseException as exc:
            _mark_written(exc, total)
            raise

    return write


# -- the pipe of splice(2) ---------------------------------------------------------------------


def open_pipe() -> tuple[int, int]:
    """A private pipe for socket -> pipe -> file, as large as the kernel allows (fewer calls)."""
    read_end, write_end = os.pipe()
    with contextlib.suppress(OSError):
        import fcntl

        fcntl.fcntl(write_end, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_SIZE)
    return read_end, write_end


def take_pipe(read_end: int) -> bytes:
    """Empty our private pipe: the bytes that left the socket but did not reach the file.

    Non-blocking, so that it returns what is there even if a count was lost
    to an exception between a splice(2) and its bookkeeping.
    """
    os.set_blocking(read_end, False)
    chunks = []
    while True:
        try:
            chunk = os.read(read_end, PIPE_SIZE)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)
