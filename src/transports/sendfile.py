"""Zero-copy file transfer: ``sendfile(2)`` out, ``splice(2)`` in.

Sending a file the ordinary way copies every byte twice through user space
(``read`` into a buffer, ``send`` out of it). ``sendfile(2)`` asks the kernel
to move the bytes from the page cache straight into the socket, and
``splice(2)`` does the same in the other direction through a pipe. Neither
call is in APUE: they are Linux (and BSD) extensions of what :apue:`16.5` and
:apue:`14.7` describe, and this module ties them to those sections.

Where zero copy cannot work (a pipe or an in-memory file as the source, a
file opened for appending as the destination, a platform without the call)
the transfer falls back to a read/send loop over one reused buffer, unless
``fallback=False`` asks for :class:`~transports.ZeroCopyUnavailable`
instead. Either way, a failure part-way raises an error whose
``bytes_sent`` says how many file bytes went out (for ``recv_into_file``:
how many were received, all of them in the file).

The target of ``recv_into_file`` is checked before a byte is taken from the
stream: a file that cannot be written (read-only, closed, not open at all) is
a :class:`ValueError`, a text file a :class:`TypeError`. A write that fails
later (a full disk, a file size limit) is the file's fault, not the
connection's: it raises :class:`~transports.FileWriteError`, an
:class:`OSError` but no :class:`~transports.TransportError`, which
holds the bytes taken from the stream that did not reach the file.

This module is the public face: :class:`SendfileMixin` gives a byte-stream
transport its two methods. The transfers themselves are the private engine
``transports._core.zerocopy`` (the socket side) and ``transports._core.files``
(the file side), which the async face (:mod:`transports.aio`) shares.
"""

from __future__ import annotations

from typing import TypeAlias

from transports._compat import Buffer
from transports._core import files
from transports._core.files import Target, check_count, check_progress
from transports._core.stream import StreamMixin
from transports._core.transport import AddrT
from transports._core.zerocopy import Outgoing, ZeroCopy, say_received
from transports.errors import TransportError
from transports.protocols import FileSource, FileTarget

__all__ = ["FileSource", "FileTarget", "Progress", "SendfileMixin"]

#: Called with the running total of file bytes moved so far.
Progress: TypeAlias = files.Progress


class SendfileMixin(StreamMixin[AddrT]):
    """``sendfile`` and ``recv_into_file`` for byte streams (:apue:`16.5`, :apue:`14.7`).

    Thin methods over the zero-copy engine (``transports._core.zerocopy``),
    run as calls in flight so that ``close()`` from another thread wakes them.
    """

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
        :class:`~transports.ZeroCopyUnavailable`). The result is less
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
            out = Outgoing(file, offset, count, headers, trailers, fallback, progress)
            try:
                return ZeroCopy(self).send(out)
            finally:
                out.close()

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
        file size limit) raises :class:`~transports.FileWriteError`,
        which is not a :class:`~transports.TransportError`: its ``received`` bytes
        were taken from the stream, ``written`` of them reached the file and
        the rest are in its ``partial``. An error of the connection (a
        timeout, a reset) is a :class:`~transports.TransportError`
        whose ``bytes_sent`` counts the bytes received, all of them in the
        file. If the stream ends before *count* bytes,
        :class:`~transports.UnexpectedEOF` says how many arrived
        (``received``); they are in the file. The timeout covers the whole call.
        """
        count = check_count(count)
        check_progress(progress)
        engine = ZeroCopy(self)
        with Target(file) as target:
            try:
                with self._in_flight("recv_into_file"):  # close() from another thread wakes it
                    written = engine.recv_file(target, count, fallback, progress)
            except TransportError as exc:
                say_received(exc, exc.bytes_sent or 0)
                raise
        if self._closed:
            # Woken by close(): what reached the file before stays; nothing more is taken.
            raise say_received(self._closed_error("recv_into_file", bytes_sent=written), written)
        if count is not None and written < count:
            raise engine.short_file(written, count)
        return written
