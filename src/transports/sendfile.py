"""Zero-copy file transfer: ``sendfile(2)`` out, ``splice(2)`` in.

Sending a file the ordinary way copies every byte twice through user space
(``read`` into a buffer, ``send`` out of it). ``sendfile(2)`` asks the kernel
to move the bytes from the page cache straight into the socket, and
``splice(2)`` does the same in the other direction through a pipe. Neither
call is in APUE: they are Linux (and BSD) extensions of what APUE 16.5 Data
Transfer and 14.7 readn and writen describe, and this module ties them to
those sections.

Where zero copy cannot work (a pipe or an in-memory file as the source, a
file opened for appending as the destination, a platform without the call)
the transfer falls back to a read/send loop over one reused buffer, unless
``fallback=False`` asks for :class:`~transports.errors.ZeroCopyUnavailable`
instead. Either way, a failure part-way raises an error whose
``bytes_sent`` says how many file bytes went out.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import select
import signal
import socket
import stat
import sys
import time
from collections.abc import Callable, Iterator
from typing import IO, Any, TypeAlias

from typing_extensions import Buffer

from transports._socket import _NOSIGNAL, AddrT, StreamMixin, _Deadline, check_size
from transports.errors import (
    TransportError,
    UnexpectedEOF,
    ZeroCopyUnavailable,
    translate_os_error,
)
from transports.protocols import FileSource, FileTarget

__all__ = ["FileSource", "FileTarget", "Progress", "SendfileMixin"]

#: Called with the running total of file bytes moved so far.
Progress: TypeAlias = Callable[[int], None]

_LINUX = sys.platform.startswith("linux")
_HAS_SENDFILE = _LINUX and hasattr(os, "sendfile")
_HAS_SPLICE = _LINUX and hasattr(os, "splice")
_HAS_SIGMASK = hasattr(signal, "pthread_sigmask") and hasattr(signal, "sigtimedwait")
#: Linux moves at most this much in one sendfile call.
_SENDFILE_MAX = 0x7FFFF000
#: Chunk for the fallback loops and for progress reports.
_FALLBACK_CHUNK = 256 * 1024
_PROGRESS_CHUNK = 8 << 20
#: Pipe size asked for when splicing (the kernel caps it for unprivileged users).
_PIPE_SIZE = 1 << 20
#: errnos meaning "sendfile/splice cannot do this pair of descriptors".
_NO_ZERO_COPY = frozenset({errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSOCK, errno.ESPIPE})


def _check_count(count: int | None) -> int | None:
    return None if count is None else check_size("count", count)


def _check_progress(progress: Progress | None) -> None:
    # Found before any byte moves, not at the first report with bytes already gone.
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be a callable taking the running total, or None, got {progress!r}")


class _Source:
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
        elif _is_text(file):
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

    def size(self) -> int | None:
        if self.fd is not None and self.regular:
            return os.fstat(self.fd).st_size
        return None

    def close(self) -> None:
        if self._owned is not None:
            self._owned.close()


class _Waiter:
    """Wait for a socket to be ready without spinning, within one overall timeout (APUE 14.4)."""

    def __init__(self, sock: socket.socket, events: int) -> None:
        self._timeout = sock.gettimeout()
        self._at = None if not self._timeout else time.monotonic() + self._timeout
        self._poll = select.poll()
        self._poll.register(sock.fileno(), events)

    def wait(self) -> None:
        if self._timeout == 0:
            raise BlockingIOError(errno.EAGAIN, "the socket is non-blocking (timeout 0)")
        left = None if self._at is None else self._at - time.monotonic()
        if left is not None and left <= 0:
            raise TimeoutError("timed out")
        self._poll.poll(None if left is None else max(left * 1000, 1))


@contextlib.contextmanager
def _sigpipe_held() -> Iterator[None]:
    """sendfile(2) has no MSG_NOSIGNAL: keep SIGPIPE from this thread, so a vanished peer is EPIPE."""
    if not _HAS_SIGMASK or signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN:
        yield  # Python ignores SIGPIPE unless the program asked for it back
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGPIPE})
    try:
        yield
    finally:
        if signal.SIGPIPE not in old:
            # Discard the SIGPIPE our sendfile raised while it was blocked, then unblock.
            while signal.sigtimedwait({signal.SIGPIPE}, 0) is not None:
                pass
            signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def _corked(sock: socket.socket, wanted: bool) -> Iterator[None]:
    """Hold partial TCP segments back while headers, body and trailers go out."""
    cork = getattr(socket, "TCP_CORK", None)
    if not wanted or cork is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        yield
        return
    sock.setsockopt(socket.IPPROTO_TCP, cork, 1)
    try:
        yield
    finally:
        if sock.fileno() != -1:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, cork, 0)  # uncorking flushes the tail


class SendfileMixin(StreamMixin[AddrT]):
    """``sendfile`` and ``recv_into_file`` for byte streams (APUE 16.5 Data Transfer, 14.7 readn and writen)."""

    __slots__ = ()

    def sendfile(
        self,
        file: FileSource,
        offset: int = 0,
        count: int | None = None,
        *,
        headers: Buffer = b"",
        trailers: Buffer = b"",
        fallback: bool = True,
        progress: Progress | None = None,
    ) -> int:
        """Send *count* bytes of *file* from *offset* (to its end when None); return how many went.

        Zero copy with ``sendfile(2)`` when *file* is a regular file on Linux;
        otherwise, or if the kernel refuses the pair, a read/send loop over one
        reused buffer, unless ``fallback=False`` (then
        :class:`~transports.errors.ZeroCopyUnavailable`). The result is less
        than *count* only if the file ends first.

        *headers* and *trailers* go out before and after the file in the same
        stream; on TCP the socket is corked meanwhile (``TCP_CORK``), so a
        small header does not leave as a tiny segment of its own. They are
        not counted in the result.

        The file's own position is never used or moved for regular files and
        seekable file objects (reads are positioned, like ``pread``); a pipe
        or socket source is consumed and needs ``offset=0``. The timeout
        covers the whole call. On an error or a timeout the exception's
        ``bytes_sent`` counts the file bytes that went out.
        """
        offset = check_size("offset", offset)
        count = _check_count(count)
        _check_progress(progress)
        source = _Source(file)
        try:
            if not source.regular and source.fd is None and not fallback:
                raise self._no_zero_copy("sendfile", "the source is an in-memory file with no descriptor")
            zero_copy = _HAS_SENDFILE and source.fd is not None and source.regular
            if not zero_copy and not fallback:
                why = (
                    f"sendfile(2) is not available on {sys.platform}"
                    if not _HAS_SENDFILE
                    else "the source is not a regular file (a pipe, socket or device)"
                )
                raise self._no_zero_copy("sendfile", why)
            if offset and not zero_copy and not _seekable(source):
                raise ValueError(
                    f"sendfile: offset {offset} needs a seekable file; this source can only be read "
                    "from where it is, so pass offset=0"
                )
            has_headers, has_trailers = _nbytes(headers) > 0, _nbytes(trailers) > 0
            with _corked(self._sock, has_headers or has_trailers):
                if has_headers:
                    self._send_extra(headers, "sendfile headers")
                sent = 0
                if zero_copy:
                    assert source.fd is not None
                    with _sigpipe_held():
                        sent, refused = self._sendfile_zero_copy(source.fd, offset, count, progress)
                    if refused is not None:
                        if not fallback:
                            raise self._no_zero_copy("sendfile", f"the kernel refused it ({refused})")
                        zero_copy = False
                if not zero_copy:
                    sent = self._sendfile_fallback(source, offset + sent, count, sent, progress)
                if has_trailers:
                    self._send_extra(trailers, "sendfile trailers", sent)
            return sent
        finally:
            source.close()

    def _no_zero_copy(self, op: str, why: str) -> ZeroCopyUnavailable:
        where = self._where()
        return ZeroCopyUnavailable(
            f"{op} {where}: zero copy is not possible: {why}; pass fallback=True to copy "
            "through a buffer instead",
            op=op,
            address=where,
            bytes_sent=0,
        )

    def _send_extra(self, data: Buffer, op: str, file_bytes: int = 0) -> None:
        try:
            self.send_all(data)
        except TransportError as exc:
            exc.op = op
            exc.bytes_sent = file_bytes
            raise

    def _sendfile_zero_copy(
        self, fd: int, offset: int, count: int | None, progress: Progress | None
    ) -> tuple[int, str | None]:
        """The sendfile(2) loop. Returns (bytes sent, why the kernel refused or None)."""
        sock = self._sock
        out = sock.fileno()
        if count is None:
            size = os.fstat(fd).st_size
            # /proc files say size 0 whatever they hold: there, go on until sendfile(2) finds the end.
            count = max(size - offset, 0) if size else sys.maxsize
        block = _PROGRESS_CHUNK if progress is not None else _SENDFILE_MAX
        waiter: _Waiter | None = None
        sent = 0
        try:
            while sent < count:
                try:
                    moved = os.sendfile(out, fd, offset + sent, min(count - sent, block))
                except BlockingIOError:
                    # A timeout makes the socket non-blocking: wait for room, don't spin.
                    if waiter is None:
                        waiter = _Waiter(sock, select.POLLOUT)
                    waiter.wait()
                    continue
                except OSError as exc:
                    if sent == 0 and exc.errno in _NO_ZERO_COPY:
                        return 0, errno.errorcode.get(exc.errno or 0, str(exc.errno))
                    raise
                if moved == 0:  # the file ended before count
                    break
                sent += moved
                if progress is not None:
                    progress(sent)
        except OSError as exc:
            raise self._transfer_error(exc, "sendfile", sent) from exc
        return sent, None

    def _sendfile_fallback(
        self, source: _Source, offset: int, count: int | None, already: int, progress: Progress | None
    ) -> int:
        """Copy through one reused buffer: positioned reads where possible (APUE 14.7)."""
        size = _FALLBACK_CHUNK if count is None else min(_FALLBACK_CHUNK, max(count - already, 1))
        buffer = bytearray(size)
        sent = already
        saved: int | None = None
        obj = source.obj
        if source.fd is None and obj is not None and obj.seekable():
            saved = obj.tell()
            obj.seek(offset)
        deadline = _Deadline(self._sock, writing=True)
        try:
            with memoryview(buffer) as view:
                while count is None or sent < count:
                    self._next_chunk(deadline, "sendfile", sent)
                    want = len(view) if count is None else min(len(view), count - sent)
                    try:
                        got = _read_into(source, view[:want], offset + (sent - already))
                    except OSError as exc:
                        raise translate_os_error(
                            exc, "sendfile: read the file for", self._where(), bytes_sent=sent
                        ) from exc
                    if not got:
                        break
                    done = 0
                    try:
                        while done < got:
                            if done:
                                self._next_chunk(deadline, "sendfile", sent + done)
                            done += self._sock.send(view[done:got], _NOSIGNAL)
                    except OSError as exc:
                        raise self._transfer_error(exc, "sendfile", sent + done) from exc
                    sent += got
                    if progress is not None:
                        progress(sent)
        finally:
            if saved is not None and obj is not None:
                obj.seek(saved)
        return sent

    def _next_chunk(self, deadline: _Deadline, op: str, done: int) -> None:
        """Give the next chunk only what is left of the call's timeout (APUE 16.8)."""
        try:
            deadline.next_call()
        except TimeoutError as exc:
            raise self._transfer_error(exc, op, done) from exc

    def _write_error(self, exc: OSError, written: int) -> TransportError:
        """A failed write to the target file; *written* bytes of the stream are in the file."""
        err = translate_os_error(exc, "recv_into_file: write the file for", self._where())
        err.bytes_sent = written
        err.strerror = f"{err.strerror}; {written} bytes reached the file before the error"
        return err

    def _transfer_error(self, exc: OSError, op: str, done: int) -> TransportError:
        return translate_os_error(exc, op, self._where(), bytes_sent=done, timeout=self._sock.gettimeout())

    # -- receiving into a file ---------------------------------------------------------

    def recv_into_file(
        self,
        file: FileTarget,
        count: int | None = None,
        *,
        fallback: bool = True,
        progress: Progress | None = None,
    ) -> int:
        """Receive *count* bytes (until end of stream when None) straight into *file*; return how many.

        Zero copy on Linux with ``splice(2)`` through a pipe; otherwise, or
        if the kernel refuses (a file opened for appending, say), a
        ``recv_into``/``write`` loop over one reused buffer, unless
        ``fallback=False``. A path is created or truncated; a file object or
        descriptor is written at its current position, which advances.
        If the stream ends before *count* bytes,
        :class:`~transports.errors.UnexpectedEOF` says how many arrived
        (``received``); they are in the file. The timeout covers the whole call.
        """
        count = _check_count(count)
        _check_progress(progress)
        owned: IO[bytes] | None = None
        if isinstance(file, bool) or not (
            isinstance(file, int | str | os.PathLike) or hasattr(file, "write")
        ):
            raise TypeError(f"recv_into_file needs a path, a binary file or a descriptor, got {file!r}")
        if isinstance(file, int):
            fd = file
        elif isinstance(file, str | os.PathLike):
            owned = open(file, "wb")  # noqa: SIM115 - closed below
            fd = owned.fileno()
        elif _is_text(file):
            raise TypeError(f"recv_into_file needs a binary file; open {file!r} with mode 'wb'")
        else:
            file.flush()  # what the file object buffered must land before our bytes
            try:
                fd = file.fileno()
            except (OSError, AttributeError, ValueError):
                fd = -1  # an in-memory file (BytesIO): written through the object
        write = _fd_writer(fd) if fd >= 0 else _object_writer(file)  # type: ignore[arg-type]  # fd < 0 only for file objects
        try:
            written: int | None = None
            refused = _splice_refusal(fd) if fd >= 0 else "the target is an in-memory file with no descriptor"
            if refused is None:
                with _sigpipe_held():  # a pipe or socket target whose reader left must not kill us
                    written, refused = self._recv_splice(fd, count, progress, fallback, write)
            if written is None:
                if not fallback:
                    raise self._no_zero_copy("recv_into_file", refused or "the kernel refused it")
                written = self._recv_fallback(write, count, progress)
        finally:
            if owned is not None:
                owned.close()
        if count is not None and written < count:
            where = self._where()
            raise UnexpectedEOF(
                f"recv_into_file {where}: the peer ended the stream after {written} of {count} "
                "bytes; those bytes are in the file",
                partial=b"",
                expected=count,
                received=written,
                op="recv_into_file",
                address=where,
            )
        return written

    def _recv_splice(
        self,
        fd: int,
        count: int | None,
        progress: Progress | None,
        fallback: bool,
        write: Callable[[memoryview], None],
    ) -> tuple[int | None, str | None]:
        """socket -> pipe -> file with splice(2). Returns (bytes, None) or (None, why refused)."""
        sock = self._sock
        read_end, write_end = os.pipe()
        try:
            with contextlib.suppress(OSError):  # a bigger pipe means fewer calls
                import fcntl

                fcntl.fcntl(write_end, getattr(fcntl, "F_SETPIPE_SZ", 1031), _PIPE_SIZE)
            waiter: _Waiter | None = None
            done = 0
            in_pipe = 0
            try:
                while count is None or done < count:
                    want = _PIPE_SIZE if count is None else min(_PIPE_SIZE, count - done)
                    try:
                        moved = os.splice(sock.fileno(), write_end, want)
                    except BlockingIOError:
                        if waiter is None:
                            waiter = _Waiter(sock, select.POLLIN)
                        waiter.wait()
                        continue
                    except OSError as exc:
                        if done == 0 and exc.errno in _NO_ZERO_COPY:
                            return None, errno.errorcode.get(exc.errno or 0, str(exc.errno))
                        raise
                    if moved == 0:
                        break
                    in_pipe = moved
                    while in_pipe:
                        try:
                            in_pipe -= os.splice(read_end, fd, in_pipe)
                        except OSError as exc:
                            if done == 0 and in_pipe == moved and exc.errno in _NO_ZERO_COPY:
                                # The file refused what the checks above did not foresee: the
                                # bytes already sit in the pipe, so write them out by hand.
                                _drain_pipe(read_end, fd, in_pipe)
                                done += moved
                                if progress is not None:
                                    progress(done)
                                if not fallback:
                                    err = self._no_zero_copy("recv_into_file", "the file refused splice(2)")
                                    err.bytes_sent = done
                                    raise err from exc
                                return self._recv_fallback(write, count, progress, done), None
                            # Say how many bytes reached the file (a full disk, RLIMIT_FSIZE).
                            raise self._write_error(exc, done + moved - in_pipe) from exc
                    done += moved
                    if progress is not None:
                        progress(done)
            except OSError as exc:
                raise self._transfer_error(exc, "recv_into_file", done) from exc
            return done, None
        finally:
            os.close(read_end)
            os.close(write_end)

    def _recv_fallback(
        self, write: Callable[[memoryview], None], count: int | None, progress: Progress | None, done: int = 0
    ) -> int:
        """recv_into one reused buffer, then write it out (APUE 14.7)."""
        buffer = bytearray(_FALLBACK_CHUNK)
        deadline = _Deadline(self._sock, writing=False)
        with memoryview(buffer) as view:
            return self._recv_chunks(view, write, count, progress, done, deadline)

    def _recv_chunks(
        self,
        view: memoryview,
        write: Callable[[memoryview], None],
        count: int | None,
        progress: Progress | None,
        done: int,
        deadline: _Deadline,
    ) -> int:
        while count is None or done < count:
            self._next_chunk(deadline, "recv_into_file", done)
            want = len(view) if count is None else min(len(view), count - done)
            try:
                got = self._sock.recv_into(view, want)
            except OSError as exc:
                raise self._transfer_error(exc, "recv_into_file", done) from exc
            if not got:
                break
            try:
                write(view[:got])
            except OSError as exc:
                raise self._write_error(exc, done + getattr(exc, _WRITTEN, 0)) from exc
            done += got
            if progress is not None:
                progress(done)
        return done


def _is_text(file: object) -> bool:
    # Typed callers cannot pass a text file, but untyped ones can: say so clearly.
    return isinstance(file, io.TextIOBase)


def _nbytes(data: Buffer) -> int:
    with memoryview(data) as view:
        return view.nbytes


def _splice_refusal(fd: int) -> str | None:
    """Why splice(2) cannot write to *fd*, found before any byte is consumed; None if it can."""
    if not _HAS_SPLICE:
        return f"splice(2) is not available on {sys.platform}"
    if _fd_flags(fd) & os.O_APPEND:
        return "the file is open for appending (O_APPEND)"
    return None


def _fd_flags(fd: int) -> int:
    import fcntl

    return fcntl.fcntl(fd, fcntl.F_GETFL)


def _seekable(source: _Source) -> bool:
    if source.fd is not None:
        return source.regular
    return source.obj is not None and source.obj.seekable()


def _read_into(source: _Source, view: memoryview, position: int) -> int:
    """Read into *view*: positioned for regular files, through the object or descriptor otherwise."""
    if source.fd is not None and source.regular:
        return os.preadv(source.fd, [view], position)
    obj: Any = source.obj
    if obj is None:
        assert source.fd is not None
        return os.readv(source.fd, [view])
    # A file object may hold read-ahead bytes of a pipe: read through it, not its descriptor.
    if hasattr(obj, "readinto"):
        return int(obj.readinto(view) or 0)
    data = obj.read(len(view))
    view[: len(data)] = data
    return len(data)


def _fd_writer(fd: int) -> Callable[[memoryview], None]:
    return lambda view: _write_all(fd, view)


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
        except OSError as exc:
            setattr(exc, _WRITTEN, total)
            raise

    return write


#: Attribute a write error carries: the bytes of the failed chunk that did reach the file.
_WRITTEN = "_transports_written"


def _write_all(fd: int, view: memoryview) -> None:
    total = 0
    try:
        while view:
            written = os.write(fd, view)
            total += written
            view = view[written:]
    except OSError as exc:
        setattr(exc, _WRITTEN, total)
        raise


def _drain_pipe(read_end: int, fd: int, count: int) -> None:
    while count:
        data = os.read(read_end, count)
        _write_all(fd, memoryview(data))
        count -= len(data)
