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
``bytes_sent`` says how many file bytes went out (for ``recv_into_file``:
how many were received, all of them in the file).

The target of ``recv_into_file`` is checked before a byte is taken from the
stream: a file that cannot be written (read-only, closed, not open at all) is
a :class:`ValueError`, a text file a :class:`TypeError`. A write that fails
later (a full disk, a file size limit) is the file's fault, not the
connection's: it raises :class:`FileWriteError`, an :class:`OSError` but no
:class:`~transports.errors.TransportError`, which holds the bytes taken from
the stream that did not reach the file.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import signal
import socket
import stat
import sys
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import IO, Any, NoReturn, TypeAlias, cast

from transports._compat import Buffer
from transports._core.deadline import Deadline
from transports._core.sockflags import NOSIGNAL
from transports._core.stream import StreamMixin, note_progress
from transports._core.transport import AddrT
from transports._core.validate import check_size
from transports.errors import (
    FileWriteError,
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


class _Target:
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
        elif _is_text(file):
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
        return _splice_refusal(self.fd)

    def close(self) -> None:
        if self._owned is not None:
            self._owned.close()

    def __enter__(self) -> _Target:
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
    if not _LINUX or fd < 0:
        return None
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None


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
        with self._in_flight("sendfile"):  # close() from another thread wakes it
            offset = check_size("offset", offset)
            count = _check_count(count)
            _check_progress(progress)
            deadline = Deadline(self._sock.gettimeout())  # one budget for headers, file and trailers
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
                            sent, refused = self._sendfile_zero_copy(
                                source.fd, offset, count, progress, deadline
                            )
                        if refused is not None:
                            if not fallback:
                                raise self._no_zero_copy("sendfile", f"the kernel refused it ({refused})")
                            zero_copy = False
                    if not zero_copy:
                        sent = self._sendfile_fallback(source, offset + sent, count, sent, progress, deadline)
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
        self, fd: int, offset: int, count: int | None, progress: Progress | None, deadline: Deadline
    ) -> tuple[int, str | None]:
        """The sendfile(2) loop. Returns (bytes sent, why the kernel refused or None)."""
        sock = self._sock
        out = sock.fileno()
        if count is None:
            size = os.fstat(fd).st_size
            # /proc files say size 0 whatever they hold: there, go on until sendfile(2) finds the end.
            count = max(size - offset, 0) if size else sys.maxsize
        block = _PROGRESS_CHUNK if progress is not None else _SENDFILE_MAX
        sent = 0
        try:
            while sent < count:
                try:
                    moved = os.sendfile(out, fd, offset + sent, min(count - sent, block))
                except BlockingIOError:
                    # A timeout makes the socket non-blocking: wait for room, don't spin.
                    deadline.wait(sock, writing=True)
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
        self,
        source: _Source,
        offset: int,
        count: int | None,
        already: int,
        progress: Progress | None,
        deadline: Deadline,
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
                            done += self._sock.send(view[done:got], NOSIGNAL)
                    except OSError as exc:
                        raise self._transfer_error(exc, "sendfile", sent + done) from exc
                    sent += got
                    if progress is not None:
                        progress(sent)
        finally:
            if saved is not None and obj is not None:
                obj.seek(saved)
        return sent

    def _next_chunk(self, deadline: Deadline, op: str, done: int) -> None:
        """Give the next chunk only what is left of the call's timeout (APUE 16.8)."""
        try:
            deadline.before_next_call(self._sock, writing=True)
        except TimeoutError as exc:
            raise self._transfer_error(exc, op, done) from exc

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

        A file that cannot be written (opened read-only, closed, a descriptor
        that is not open) is refused with :class:`ValueError` before a byte
        is taken from the stream. A write that fails later (a full disk, a
        file size limit) raises :class:`FileWriteError`, which is not a
        :class:`~transports.errors.TransportError`: its ``received`` bytes
        were taken from the stream, ``written`` of them reached the file and
        the rest are in its ``partial``. An error of the connection (a
        timeout, a reset) is a :class:`~transports.errors.TransportError`
        whose ``bytes_sent`` counts the bytes received, all of them in the
        file. If the stream ends before *count* bytes,
        :class:`~transports.errors.UnexpectedEOF` says how many arrived
        (``received``); they are in the file. The timeout covers the whole call.
        """
        count = _check_count(count)
        _check_progress(progress)
        with _Target(file) as target:
            try:
                with self._in_flight("recv_into_file"):  # close() from another thread wakes it
                    written = self._recv_into_target(target, count, fallback, progress)
            except TransportError as exc:
                _say_received(exc, exc.bytes_sent or 0)
                raise
        if self._closed:
            # Woken by close(): what reached the file before stays; nothing more is taken.
            raise _say_received(self._closed_error("recv_into_file", bytes_sent=written), written)
        if count is not None and written < count:
            raise self._short_file(written, count)
        return written

    def _recv_into_target(
        self, target: _Target, count: int | None, fallback: bool, progress: Progress | None
    ) -> int:
        """The transfer of ``recv_into_file``; returns the bytes received, short of *count* at end of stream.

        A connection error carries the bytes received so far in
        ``bytes_sent``, not yet in its message (the caller words it, with its
        own total). The async twin resumes this after each wait.
        """
        refused = target.splice_refusal()
        if refused is not None and not fallback:
            raise self._no_zero_copy("recv_into_file", refused)
        with _sigpipe_held():  # a pipe or socket target whose reader left must be EPIPE, not a kill
            if refused is None:
                written, refused = self._recv_splice(target, count, progress, fallback)
                if written is not None:
                    return written
                if not fallback:
                    raise self._no_zero_copy("recv_into_file", refused or "the kernel refused it")
            return self._recv_fallback(target, count, progress)

    def _short_file(self, received: int, expected: int) -> UnexpectedEOF:
        """The error for a stream that ended after *received* of *expected* bytes, all in the file."""
        where = self._where()
        return UnexpectedEOF(
            f"recv_into_file {where}: the peer ended the stream after {received} of {expected} "
            "bytes; those bytes are in the file",
            partial=b"",
            expected=expected,
            received=received,
            op="recv_into_file",
            address=where,
        )

    def _recv_error(self, exc: OSError, done: int) -> TransportError:
        """A failure on the socket's side of ``recv_into_file``; *done* bytes were received, all in the file."""
        err = self._error(exc, "recv_into_file")  # the count is worded by _say_received, as received
        err.bytes_sent = done
        return err

    def _write_failed(
        self, exc: BaseException, target: _Target, done: int, taken: int, left: bytes
    ) -> NoReturn:
        """Raise for a failed write to the target file.

        *done* bytes reached the file before the chunk of *taken* bytes that
        failed, of which *left* (its tail) did not. An :class:`OSError`
        becomes :class:`FileWriteError`; anything else (a signal's exception,
        a file object raising ``ValueError``) goes on as it is, with the same
        counts attached and a note.
        """
        received = done + taken
        written = received - len(left)
        if not isinstance(exc, OSError):
            note_progress(
                exc,
                "recv_into_file: writing the file failed; .received counts the bytes taken from the "
                "stream, .written those that reached the file, .partial holds the rest",
                received=received,
                written=written,
                partial=left,
            )
            _mark_counted(exc)
            raise exc
        raise FileWriteError(
            exc.errno,
            exc.strerror or str(exc),
            filename=target.filename,
            target=target.name,
            address=self._where(),
            received=received,
            written=written,
            partial=left,
        ) from exc

    def _recv_splice(
        self, target: _Target, count: int | None, progress: Progress | None, fallback: bool
    ) -> tuple[int | None, str | None]:
        """socket -> pipe -> file with splice(2). Returns (bytes, None) or (None, why refused).

        Every byte that left the socket is either in the file or still in our
        private pipe, so after a failed write the pipe holds exactly the bytes
        that did not reach the file.
        """
        sock = self._sock
        read_end, write_end = os.pipe()
        try:
            with contextlib.suppress(OSError):  # a bigger pipe means fewer calls
                import fcntl

                fcntl.fcntl(write_end, getattr(fcntl, "F_SETPIPE_SZ", 1031), _PIPE_SIZE)
            deadline = Deadline(sock.gettimeout())
            done = 0  # received, and in the file
            while count is None or done < count:
                want = _PIPE_SIZE if count is None else min(_PIPE_SIZE, count - done)
                try:
                    moved = os.splice(sock.fileno(), write_end, want)
                except BlockingIOError:
                    try:
                        deadline.wait(sock, writing=False)
                    except OSError as exc:
                        raise self._recv_error(exc, done) from exc
                    continue
                except OSError as exc:
                    if done == 0 and exc.errno in _NO_ZERO_COPY:
                        return None, errno.errorcode.get(exc.errno or 0, str(exc.errno))
                    raise self._recv_error(exc, done) from exc
                if moved == 0:
                    break
                refused = self._pipe_to_file(target, read_end, moved, done)
                done += moved
                if progress is not None:
                    progress(done)
                if refused is not None:
                    # The file refused splice(2) although the checks above let it through;
                    # the bytes that were in the pipe were written by hand.
                    if not fallback:
                        err = self._no_zero_copy("recv_into_file", "the file refused splice(2)")
                        err.bytes_sent = done
                        raise err from refused
                    return self._recv_fallback(target, count, progress, done), None
            return done, None
        finally:
            os.close(read_end)
            os.close(write_end)

    def _pipe_to_file(self, target: _Target, read_end: int, moved: int, done: int) -> OSError | None:
        """Move the *moved* bytes in the pipe into the file; *done* bytes reached it before them.

        Returns ``None``, or the kernel's refusal when the file refused
        splice(2) before taking any of them: then they were written by hand.
        A failed write raises (see :meth:`_write_failed`).
        """
        in_pipe = moved
        try:
            while in_pipe:
                in_pipe -= os.splice(read_end, target.fd, in_pipe)
        except OSError as exc:
            if not (done == 0 and in_pipe == moved and exc.errno in _NO_ZERO_COPY):
                self._write_failed(exc, target, done, moved, _take_pipe(read_end))
            data = _take_pipe(read_end)
            try:
                target.write(memoryview(data))
            except BaseException as failed:
                self._write_failed(failed, target, done, moved, data[getattr(failed, _WRITTEN, 0) :])
            return exc
        except BaseException as exc:
            self._write_failed(exc, target, done, moved, _take_pipe(read_end))
        return None

    def _recv_fallback(
        self, target: _Target, count: int | None, progress: Progress | None, done: int = 0
    ) -> int:
        """recv_into one reused buffer, then write it out (APUE 14.7)."""
        size = _FALLBACK_CHUNK if count is None else min(_FALLBACK_CHUNK, max(count - done, 1))
        buffer = bytearray(size)
        deadline = Deadline(self._sock.gettimeout())
        with memoryview(buffer) as view:
            while count is None or done < count:
                try:
                    deadline.before_next_call(self._sock, writing=False)
                    want = len(view) if count is None else min(len(view), count - done)
                    got = self._sock.recv_into(view, want)
                except OSError as exc:
                    raise self._recv_error(exc, done) from exc
                if not got:
                    break
                try:
                    target.write(view[:got])
                except BaseException as exc:
                    self._write_failed(exc, target, done, got, bytes(view[getattr(exc, _WRITTEN, 0) : got]))
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
        except BlockingIOError as exc:
            _mark_written(
                exc, total + (exc.characters_written or 0)
            )  # a non-blocking buffered file took some
            raise
        except BaseException as exc:
            _mark_written(exc, total)
            raise

    return write


#: Attribute a write error carries: the bytes of the failed chunk that did reach the file.
_WRITTEN = "_transports_written"


#: Attribute marking an exception (not ours) that carries recv_into_file's counts.
_COUNTED = "_transports_counted"


def _mark_counted(exc: BaseException) -> None:
    with contextlib.suppress(AttributeError, TypeError):
        setattr(exc, _COUNTED, True)


def _shift_counts(exc: BaseException, done: int) -> None:
    """Add *done* bytes received and written before the call that raised *exc* (the async twin resumes)."""
    if isinstance(exc, FileWriteError) or getattr(exc, _COUNTED, False):
        counted: Any = exc  # FileWriteError, or another exception _write_failed gave the two counts
        counted.received += done
        counted.written += done


def _mark_written(exc: BaseException, count: int) -> None:
    with contextlib.suppress(AttributeError, TypeError):
        setattr(exc, _WRITTEN, count)


def _write_all(fd: int, view: memoryview) -> None:
    total = 0
    try:
        while view:
            written = os.write(fd, view)
            total += written
            view = view[written:]
    except BaseException as exc:
        _mark_written(exc, total)
        raise


def _take_pipe(read_end: int) -> bytes:
    """Empty our private pipe: the bytes that left the socket but did not reach the file.

    Non-blocking, so that it returns what is there even if a count was lost
    to an exception between a splice(2) and its bookkeeping.
    """
    os.set_blocking(read_end, False)
    chunks = []
    while True:
        try:
            chunk = os.read(read_end, _PIPE_SIZE)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _say_received(err: TransportError, received: int) -> TransportError:
    """Put the count of a ``recv_into_file`` connection error into it: *received* bytes, all in the file.

    ``translate_os_error`` words its count as bytes sent; a receive words it here.
    """
    err.bytes_sent = received
    if received:
        note = f"; {received} bytes were received before that, and are in the file"
        if err.errno is not None:
            err.strerror = f"{err.strerror}{note}"
            err.args = (err.errno, err.strerror)
        else:
            err.args = (f"{err.args[0] if err.args else ''}{note}", *err.args[1:])
    return err
