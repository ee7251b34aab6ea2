"""The zero-copy engine: ``sendfile(2)`` out, ``splice(2)`` in, a buffer where they cannot.

:class:`ZeroCopy` works over one owned byte stream (the sync transport) and
holds every line of the transfers that does not wait, for both faces. On a
blocking socket it waits in the kernel or on its :class:`Deadline`; on the
non-blocking socket of the async face a call stops at the first ``EAGAIN``
with :class:`~transports.WouldBlock`, whose ``bytes_sent`` is the
running total, and the async face resumes it after its own wait: a regular
file is read at an offset, so a resumed call goes on exactly where the last
one stopped. Counts and progress reports are running totals of the whole
call, resumed parts included. :apue:`16.5`, :apue:`14.7`, :apue:`16.8`.

:class:`Outgoing` is a checked ``sendfile`` call (arguments, the source
opened, whether zero copy can work); the file side is
:mod:`transports._core.files`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import sys
from collections.abc import Iterator
from typing import Any, NoReturn

from transports._compat import Buffer
from transports._core import files
from transports._core.deadline import Deadline
from transports._core.files import Progress, Source, Target, check_count, check_progress, written_before
from transports._core.sockflags import NOSIGNAL
from transports._core.stream import StreamMixin, note_progress
from transports._core.validate import check_size
from transports.errors import (
    FileWriteError,
    TransportError,
    UnexpectedEOF,
    ZeroCopyUnavailable,
    translate_os_error,
)
from transports.protocols import FileSource

_HAS_SIGMASK = hasattr(signal, "pthread_sigmask") and hasattr(signal, "sigtimedwait")


@contextlib.contextmanager
def sigpipe_held() -> Iterator[None]:
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
def corked(sock: socket.socket, wanted: bool) -> Iterator[None]:
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


def as_extra(exc: TransportError, op: str, file_bytes: int) -> None:
    """Word an error of sending headers or trailers: *op* names which, *file_bytes* went before."""
    exc.op = op
    exc.bytes_sent = file_bytes


def say_received(err: TransportError, received: int) -> TransportError:
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


def _nbytes(data: Buffer) -> int:
    with memoryview(data) as view:
        return view.nbytes


class Outgoing:
    """One ``sendfile`` call, checked before any byte moves: its arguments and its opened source.

    ``refusal`` says why zero copy cannot work for this source (``None``:
    it can); ``close()`` closes a file the call opened from a path.
    """

    __slots__ = ("count", "fallback", "headers", "offset", "progress", "refusal", "source", "trailers")

    def __init__(
        self,
        file: FileSource,
        offset: int,
        count: int | None,
        headers: Buffer,
        trailers: Buffer,
        fallback: bool,
        progress: Progress | None,
    ) -> None:
        self.offset = check_size("offset", offset)
        self.count = check_count(count)
        check_progress(progress)
        self.fallback = fallback
        self.progress = progress
        self.headers = headers if _nbytes(headers) else None
        self.trailers = trailers if _nbytes(trailers) else None
        self.source = source = Source(file)
        if source.fd is None:
            self.refusal: str | None = "the source is an in-memory file with no descriptor"
        elif not files.HAS_SENDFILE:
            self.refusal = f"sendfile(2) is not available on {sys.platform}"
        elif not source.regular:
            self.refusal = "the source is not a regular file (a pipe, socket or device)"
        else:
            self.refusal = None

    @property
    def extras(self) -> bool:
        """Whether headers or trailers go with the file (then TCP is corked meanwhile)."""
        return self.headers is not None or self.trailers is not None

    def close(self) -> None:
        self.source.close()

    def __enter__(self) -> Outgoing:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class ZeroCopy:
    """The transfers of ``sendfile`` and ``recv_into_file`` over *owner*'s socket (:apue:`16.5`, :apue:`14.7`).

    One engine serves one call: its :class:`Deadline` is that call's budget,
    taken from the socket's timeout when the engine is made.
    """

    __slots__ = ("_deadline", "_owner", "_sock")

    def __init__(self, owner: StreamMixin[Any]) -> None:
        self._owner = owner
        self._sock = owner._sock
        self._deadline = Deadline(self._sock.gettimeout())

    # -- errors ----------------------------------------------------------------------------

    def no_zero_copy(self, op: str, why: str, done: int = 0) -> ZeroCopyUnavailable:
        """The error for ``fallback=False`` when zero copy cannot work, *done* bytes moved before."""
        where = self._owner._where()
        return ZeroCopyUnavailable(
            f"{op} {where}: zero copy is not possible: {why}; pass fallback=True to copy "
            "through a buffer instead",
            op=op,
            address=where,
            bytes_sent=done,
        )

    def short_file(self, received: int, expected: int) -> UnexpectedEOF:
        """The error for a stream that ended after *received* of *expected* bytes, all in the file."""
        where = self._owner._where()
        return UnexpectedEOF(
            f"recv_into_file {where}: the peer ended the stream after {received} of {expected} "
            "bytes; those bytes are in the file",
            partial=b"",
            expected=expected,
            received=received,
            op="recv_into_file",
            address=where,
        )

    def _send_error(self, exc: OSError, sent: int) -> TransportError:
        """A failure on the socket's side of ``sendfile``, *sent* file bytes having gone out."""
        return self._owner._error(exc, "sendfile", bytes_sent=sent)

    def _recv_error(self, exc: OSError, done: int) -> TransportError:
        """A failure on the socket's side of ``recv_into_file``; *done* bytes were received, all in the file."""
        err = self._owner._error(exc, "recv_into_file")  # the count is worded by say_received, as received
        err.bytes_sent = done
        return err

    def write_failed(
        self, exc: BaseException, target: Target, done: int, taken: int, left: bytes
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
            raise exc
        raise FileWriteError(
            exc.errno,
            exc.strerror or str(exc),
            filename=target.filename,
            target=target.name,
            address=self._owner._where(),
            received=received,
            written=written,
            partial=left,
        ) from exc

    # -- sending a file ----------------------------------------------------------------------

    def check(self, out: Outgoing) -> None:
        """Refuse what cannot be done, before headers or any file byte go out."""
        if out.refusal is not None and not out.fallback:
            raise self.no_zero_copy("sendfile", out.refusal)
        if out.offset and out.refusal is not None and not out.source.seekable:
            raise ValueError(
                f"sendfile: offset {out.offset} needs a seekable file; this source can only be read "
                "from where it is, so pass offset=0"
            )

    def send_extra(self, data: Buffer, op: str, file_bytes: int) -> None:
        """Send headers or trailers (blocking face); an error counts *file_bytes*, the file bytes sent."""
        try:
            self._owner.send_all(data)
        except TransportError as exc:
            as_extra(exc, op, file_bytes)
            raise

    def send(self, out: Outgoing) -> int:
        """The whole ``sendfile`` of the blocking face: headers, the file, trailers; one budget."""
        self.check(out)
        if not out.extras:
            return self.send_file(out, 0)
        with corked(self._sock, True):
            if out.headers is not None:
                self.send_extra(out.headers, "sendfile headers", 0)
            sent = self.send_file(out, 0)
            if out.trailers is not None:
                self.send_extra(out.trailers, "sendfile trailers", sent)
        return sent

    def send_file(self, out: Outgoing, sent: int) -> int:
        """Send the file from ``out.offset + sent`` on, *sent* bytes having gone; return the total.

        Zero copy where :meth:`check` found it possible, falling back to a
        buffer if the kernel refuses (or raising, with ``fallback=False``).
        """
        if out.refusal is None:
            assert out.source.fd is not None
            with sigpipe_held():
                moved, refused = self._sendfile_loop(out.source.fd, out.offset, out.count, out.progress, sent)
            if refused is None:
                return moved
            if not out.fallback:
                raise self.no_zero_copy("sendfile", f"the kernel refused it ({refused})", sent)
        return self._copy_loop(out, sent)

    def _sendfile_loop(
        self, fd: int, offset: int, count: int | None, progress: Progress | None, sent: int
    ) -> tuple[int, str | None]:
        """The sendfile(2) loop. Returns (bytes sent in all, why the kernel refused or None)."""
        sock, deadline = self._sock, self._deadline
        out = sock.fileno()
        if count is None:
            size = os.fstat(fd).st_size
            # /proc files say size 0 whatever they hold: there, go on until sendfile(2) finds the end.
            count = max(size - offset, 0) if size else sys.maxsize
        block = files.PROGRESS_CHUNK if progress is not None else files.SENDFILE_MAX
        start = sent
        try:
            while sent < count:
                try:
                    moved = os.sendfile(out, fd, offset + sent, min(count - sent, block))
                except BlockingIOError:
                    # A timeout makes the socket non-blocking: wait for room, don't spin.
                    deadline.wait(sock, writing=True)
                    continue
                except OSError as exc:
                    if sent == start and exc.errno in files.NO_ZERO_COPY:
                        return sent, errno.errorcode.get(exc.errno or 0, str(exc.errno))
                    raise
                if moved == 0:  # the file ended before count
                    break
                sent += moved
                if progress is not None:
                    progress(sent)
        except OSError as exc:
            raise self._send_error(exc, sent) from exc
        return sent, None

    def _copy_loop(self, out: Outgoing, sent: int) -> int:
        """Copy through one reused buffer: positioned reads where possible (:apue:`14.7`)."""
        source, count, progress = out.source, out.count, out.progress
        sock, deadline = self._sock, self._deadline
        buffer = bytearray(
            files.FALLBACK_CHUNK if count is None else min(files.FALLBACK_CHUNK, max(count - sent, 1))
        )
        saved: int | None = None
        obj = source.obj
        if source.fd is None and obj is not None and obj.seekable():
            saved = obj.tell()
            obj.seek(out.offset + sent)
        done = 0
        try:
            with memoryview(buffer) as view:
                while count is None or sent < count:
                    deadline.before_next_call(sock, writing=True)
                    want = len(view) if count is None else min(len(view), count - sent)
                    try:
                        got = source.read_into(view[:want], out.offset + sent)
                    except OSError as exc:
                        where = self._owner._where()
                        op = "sendfile: read the file for"
                        raise translate_os_error(exc, op, where, bytes_sent=sent) from exc
                    if not got:
                        break
                    while done < got:
                        if done:
                            deadline.before_next_call(sock, writing=True)
                        done += sock.send(view[done:got], NOSIGNAL)
                    sent += got
                    done = 0
                    if progress is not None:
                        progress(sent)
        except TransportError:
            raise
        except OSError as exc:
            raise self._send_error(exc, sent + done) from exc
        finally:
            if saved is not None and obj is not None:
                obj.seek(saved)
        return sent

    # -- receiving into a file ---------------------------------------------------------------

    def recv_file(
        self, target: Target, count: int | None, fallback: bool, progress: Progress | None, done: int = 0
    ) -> int:
        """Receive into *target* until *count* bytes in all (or end of stream); return the total.

        *done* bytes were received before (by an earlier, resumed part). A
        connection error carries the total so far in ``bytes_sent``, not yet
        in its message (the caller words it with :func:`say_received`).
        """
        refused = target.splice_refusal()
        if refused is not None and not fallback:
            raise self.no_zero_copy("recv_into_file", refused, done)
        with sigpipe_held():  # a pipe or socket target whose reader left must be EPIPE, not a kill
            if refused is None:
                total, refused = self._splice_loop(target, count, progress, fallback, done)
                if total is not None:
                    return total
                if not fallback:
                    raise self.no_zero_copy("recv_into_file", refused or "the kernel refused it", done)
            return self._recv_loop(target, count, progress, done)

    def _splice_loop(
        self, target: Target, count: int | None, progress: Progress | None, fallback: bool, done: int
    ) -> tuple[int | None, str | None]:
        """socket -> pipe -> file with splice(2). Returns (total, None) or (None, why refused).

        Every byte that left the socket is either in the file or still in our
        private pipe, so after a failed write the pipe holds exactly the bytes
        that did not reach the file.
        """
        sock, deadline = self._sock, self._deadline
        start = done
        read_end, write_end = files.open_pipe()
        try:
            while count is None or done < count:
                want = files.PIPE_SIZE if count is None else min(files.PIPE_SIZE, count - done)
                try:
                    moved = os.splice(sock.fileno(), write_end, want)
                except BlockingIOError:
                    try:
                        deadline.wait(sock, writing=False)
                    except OSError as exc:
                        raise self._recv_error(exc, done) from exc
                    continue
                except OSError as exc:
                    if done == start and exc.errno in files.NO_ZERO_COPY:
                        return None, errno.errorcode.get(exc.errno or 0, str(exc.errno))
                    raise self._recv_error(exc, done) from exc
                if moved == 0:
                    break
                refused = self._pipe_to_file(target, read_end, moved, done, first=done == start)
                done += moved
                if progress is not None:
                    progress(done)
                if refused is not None:
                    # The file refused splice(2) although the checks above let it through;
                    # the bytes that were in the pipe were written by hand.
                    if not fallback:
                        raise self.no_zero_copy(
                            "recv_into_file", "the file refused splice(2)", done
                        ) from refused
                    return self._recv_loop(target, count, progress, done), None
            return done, None
        finally:
            os.close(read_end)
            os.close(write_end)

    def _pipe_to_file(
        self, target: Target, read_end: int, moved: int, done: int, *, first: bool
    ) -> OSError | None:
        """Move the *moved* bytes in the pipe into the file; *done* bytes reached it before them.

        Returns ``None``, or the kernel's refusal when the file refused
        splice(2) on the *first* chunk, before taking any of it: then those
        bytes were written by hand. A failed write raises (see :meth:`write_failed`).
        """
        in_pipe = moved
        try:
            while in_pipe:
                in_pipe -= os.splice(read_end, target.fd, in_pipe)
        except OSError as exc:
            if not (first and in_pipe == moved and exc.errno in files.NO_ZERO_COPY):
                self.write_failed(exc, target, done, moved, files.take_pipe(read_end))
            data = files.take_pipe(read_end)
            try:
                target.write(memoryview(data))
            except BaseException as failed:
                self.write_failed(failed, target, done, moved, data[written_before(failed) :])
            return exc
        except BaseException as exc:
            self.write_failed(exc, target, done, moved, files.take_pipe(read_end))
        return None

    def _recv_loop(self, target: Target, count: int | None, progress: Progress | None, done: int) -> int:
        """recv_into one reused buffer, then write it out (:apue:`14.7`)."""
        sock, deadline = self._sock, self._deadline
        size = files.FALLBACK_CHUNK if count is None else min(files.FALLBACK_CHUNK, max(count - done, 1))
        buffer = bytearray(size)
        with memoryview(buffer) as view:
            while count is None or done < count:
                try:
                    deadline.before_next_call(sock, writing=False)
                    want = len(view) if count is None else min(len(view), count - done)
                    got = sock.recv_into(view, want)
                except OSError as exc:
                    raise self._recv_error(exc, done) from exc
                if not got:
                    break
                try:
                    target.write(view[:got])
                except BaseException as exc:
                    self.write_failed(exc, target, done, got, bytes(view[written_before(exc) : got]))
                done += got
                if progress is not None:
                    progress(done)
        return done
