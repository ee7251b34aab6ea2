"""Async byte streams: send_all, recv_exactly, half-close, sendfile (:apue:`14.7`, :apue:`16.5`, :apue:`16.8`, :apue:`14.4`).

The readn and writen loops (:apue:`14.7`) are the one place where the
async side has code of its own: between two system calls it must wait on
the event loop instead of in the kernel. Everything else (flag checks, error
translation, the end-of-stream error) is the sync transport's, and the whole
of ``sendfile`` and ``recv_into_file`` but the waits is the zero-copy engine
both faces share (``transports._core.zerocopy``).

Cancellation keeps the byte stream whole. A cancelled ``send_all`` or
``sendfile`` records how many bytes went out in :attr:`StreamOps.last_bytes_sent`.
A cancelled ``recv_exactly`` (or ``MSG_WAITALL`` receive) keeps what it had
read and hands it out first to the next receive, so no byte is lost.

Two tasks on one stream in the same direction at once are a conflict, not a
queue (trio's ``ConflictDetector`` is the model). While a ``send_all``,
``sendfile`` or framed send waits for room, another task's ``send_all``,
``sendfile`` or framed send on the transport raises :class:`RuntimeError`
at once, before it sends a byte: its bytes would land in the middle of the
first one's. Likewise, while ``recv_exactly``, a ``WAITALL`` receive,
``recv_into_file`` or a framed receive waits for the rest of its bytes,
another task's ``recv``, ``recv_into``, ``recv_exactly`` or
``recv_into_file`` raises, before it takes a byte. One task sending while
another receives is fine, and so are calls that do not wait. To share one
direction between tasks, take an :class:`asyncio.Lock` around the calls,
or use :class:`transports.aio.MessageStream`, whose ``send_message`` and
``recv_message`` take one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from transports._compat import Buffer, WritableBuffer
from transports._core.deadline import Deadline
from transports._core.files import Progress, Target, check_count, check_progress, written_before
from transports._core.sockflags import NOSIGNAL, PEEK, WAITALL
from transports._core.stream import ShutdownMixin, StreamMixin
from transports._core.transport import GROW_STEP, RECV_CAP
from transports._core.validate import check_size
from transports._core.zerocopy import Outgoing, ZeroCopy, as_extra, corked, say_received
from transports.addresses import Address
from transports.aio._core import AsyncSocketTransport
from transports.errors import TransportError, WouldBlock
from transports.flags import RecvFlags, SendFlags
from transports.protocols import FileSource, FileTarget, ShutdownHow
from transports.sendfile import SendfileMixin

_OOB = int(RecvFlags.OOB)
_NOWAIT = int(RecvFlags.DONTWAIT)

ShutT = TypeVar("ShutT", bound=ShutdownMixin[Any])
StreamT = TypeVar("StreamT", bound=StreamMixin[Any])
SendfileT = TypeVar("SendfileT", bound=SendfileMixin[Any])
AddrT = TypeVar("AddrT", bound=Address)
T = TypeVar("T")


class ShutdownOps(AsyncSocketTransport[ShutT, AddrT]):
    """Half-close for connection-oriented kinds (:apue:`16.2`)."""

    __slots__ = ()

    def shutdown(self, how: ShutdownHow = "write") -> None:
        """Close one direction of the connection (:apue:`16.2`); ``"write"`` sends end-of-stream.

        It never waits, so it is a plain method.
        """
        self._sync.shutdown(how)


class StreamOps(ShutdownOps[StreamT, AddrT]):
    """``send_all``, ``recv_exactly`` and cancellation-safe receives for byte streams (:apue:`14.7`, :apue:`16.8`, :apue:`14.4`)."""

    __slots__ = ("_busy_recv", "_busy_send")

    #: The call that waits for the rest of its bytes to send (receive), or ``None``:
    #: another task's call in that direction is a conflict until it returns.
    _busy_send: str | None
    _busy_recv: str | None

    def _attach(self, sync: StreamT, timeout: float | None) -> None:
        super()._attach(sync, timeout)
        self._busy_send = self._busy_recv = None

    def _conflict(self, op: str, sending: bool) -> RuntimeError:
        """The error of *op*, begun while another task's call waits in the same direction."""
        if sending:
            holder, what = self._busy_send, "sending: the bytes of the two would interleave; nothing was sent"
        else:
            holder, what = (
                self._busy_recv,
                "receiving: each would take bytes the other needs; nothing was received",
            )
        return RuntimeError(
            f"{op} {self._sync._where()}: another task's {holder} is waiting on this transport, "
            f"{what}; use one task per direction, or take an asyncio.Lock around the calls "
            "(transports.aio.MessageStream does)"
        )

    async def _wait_busy(
        self, writable: bool, deadline: Deadline | None, op: str, bytes_sent: int | None = None
    ) -> None:
        """Wait as ``_wait`` does, marking the direction busy with *op* meanwhile (only then can another task run)."""
        if writable:
            self._busy_send = op
        else:
            self._busy_recv = op
        try:
            await self._wait(writable, deadline, op, bytes_sent)
        finally:
            if writable:
                self._busy_send = None
            else:
                self._busy_recv = None

    @property
    def last_bytes_sent(self) -> int | None:
        """How many bytes the latest ``send_all`` or ``sendfile`` handed to the kernel.

        Set when the call ends, however it ends: completed, failed, timed
        out or cancelled. A cancellation raises :class:`asyncio.CancelledError`,
        which cannot carry a count, so this is where to read it. For
        ``sendfile`` it counts file bytes, as ``bytes_sent`` does. ``None``
        before the first such call.
        """
        return self._last_sent

    # -- receiving ---------------------------------------------------------------------------

    async def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        """Receive up to *max_bytes* (:apue:`16.5`, :apue:`16.8`); ``b""`` means end of stream.

        ``RecvFlags.WAITALL`` waits until *max_bytes* arrived or the stream
        ended; a cancellation then keeps the bytes read so far for the next receive.
        """
        if self._busy_recv is not None:
            raise self._conflict("recv", False)
        if not flags and not self._pending and max_bytes.__class__ is int and max_bytes <= RECV_CAP:
            try:
                return self._sock.recv(max_bytes)
            except BlockingIOError:
                pass
            except OSError as exc:
                raise self._error(exc, "recv") from exc
            return await self._retry(False, "recv", 0, self._sock.recv, max_bytes, waited=True)
        if max_bytes.__class__ is not int:  # a bool is an int to the socket module: refuse it here
            raise TypeError(f"max_bytes must be an int, got {max_bytes!r}")
        check_size("max_bytes", max_bytes)
        bits = self._sync._recv_bits(flags) if flags else 0
        if bits & WAITALL and not bits & (PEEK | _NOWAIT):
            # The buffer grows with the bytes that arrive, never with max_bytes.
            return await self._collect([], max_bytes, "recv", self._deadline() if self._timeout else None)
        if self._pending and not bits & _OOB:
            data = self._pending[:max_bytes]
            if not bits & PEEK:
                self._pending = self._pending[len(data) :]
            return data
        # No receive returns more than a socket buffer holds: never reserve more.
        size = min(max_bytes, RECV_CAP)
        return await self._retry(False, "recv", bits, self._sock.recv, size, bits)

    async def recv_into(
        self, buffer: WritableBuffer, nbytes: int = 0, flags: RecvFlags = RecvFlags.NONE
    ) -> int:
        """Receive into *buffer*, at most *nbytes* (its whole size when 0); return the count (:apue:`16.5`, :apue:`16.8`)."""
        if self._busy_recv is not None:
            raise self._conflict("recv_into", False)
        if not flags and not self._pending:
            try:
                return self._sock.recv_into(buffer, nbytes)
            except BlockingIOError:
                pass
            except OSError as exc:
                raise self._error(exc, "recv_into") from exc
            return await self._retry(False, "recv_into", 0, self._sock.recv_into, buffer, nbytes, waited=True)
        bits = self._sync._recv_bits(flags) if flags else 0
        waitall = bits & WAITALL and not bits & (PEEK | _NOWAIT)
        if waitall or (self._pending and not bits & _OOB):
            limit = check_size("nbytes", nbytes)
            with memoryview(buffer) as whole, whole.cast("B") as view:
                if limit > len(view):
                    raise ValueError(f"recv_into: nbytes {limit} is larger than the {len(view)}-byte buffer")
                target = view[: limit or None]
                if waitall:
                    return await self._fill(
                        target, 0, "recv_into", self._deadline() if self._timeout else None
                    )
                count = min(len(target), len(self._pending))
                target[:count] = self._pending[:count]
                if not bits & PEEK:
                    self._pending = self._pending[count:]
                return count
        return await self._retry(False, "recv_into", bits, self._sock.recv_into, buffer, nbytes, bits)

    async def recv_exactly(self, n: int) -> bytes:
        """Return exactly *n* bytes (:apue:`14.7`, :apue:`16.8`).

        Raises :class:`~transports.UnexpectedEOF` with the partial data
        if the stream ends first. The timeout covers the whole call, and a
        timeout's error carries the partial data too. A cancellation keeps the
        bytes read so far in the transport for the next receive.
        """
        if type(n) is not int or n < 0:
            check_size("n", n)
        if self._busy_recv is not None:
            raise self._conflict("recv_exactly", False)
        deadline = self._deadline() if self._timeout else None
        first = b""
        if not self._pending:
            # Most messages arrive whole: wait and read them in one piece, no buffer to fill.
            try:
                while True:
                    try:
                        first = self._sock.recv(n if n <= GROW_STEP else GROW_STEP)
                        break
                    except BlockingIOError:
                        if self._timeout == 0:
                            raise
                    await self._wait_busy(False, deadline, "recv_exactly")
            except OSError as exc:
                self._fail(exc, "recv_exactly", partial=b"")
            if len(first) == n:
                return first
            if not first:
                raise self._sync._unexpected_eof("recv_exactly", b"", n)
        # A short read emptied the socket: wait before the next one. Memory
        # grows with the bytes that arrive, never with n.
        data = await self._collect([first] if first else [], n, "recv_exactly", deadline, waited=bool(first))
        if len(data) < n:
            raise self._sync._unexpected_eof("recv_exactly", data, n)
        return data

    async def _collect(
        self, chunks: list[bytes], n: int, op: str, deadline: Deadline | None, *, waited: bool = False
    ) -> bytes:
        """Receive until *chunks* hold *n* bytes or the stream ends; return them joined (:apue:`14.7`).

        Bytes left by a cancelled receive come first. Each call asks for at
        most as much as arrived so far (at least ``GROW_STEP``), so memory
        follows the data. On a timeout or an error the exception's
        ``partial`` has what arrived; on a cancellation the transport keeps
        it for the next receive.
        """
        got = sum(map(len, chunks))
        if self._pending:
            take = self._pending[: n - got]
            self._pending = self._pending[len(take) :]
            chunks.append(take)
            got += len(take)
        recv = self._sock.recv
        try:
            while got < n:
                left = n - got
                size = left if left <= GROW_STEP or left <= got else max(got, GROW_STEP)
                chunk = await self._next_recv(waited, deadline, op, recv, size)
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
                waited = False
        except asyncio.CancelledError:
            self._pending = b"".join(chunks) + self._pending
            raise
        except OSError as exc:
            self._fail(exc, op, partial=b"".join(chunks))
        return b"".join(chunks)

    async def _fill(
        self, view: memoryview, got: int, op: str, deadline: Deadline | None, *, waited: bool = False
    ) -> int:
        """Receive into *view* from *got* on until it is full or the stream ends; return the count.

        Bytes left by a cancelled receive come first. On a timeout or an error
        the exception's ``partial`` has what arrived; on a cancellation the
        transport keeps it for the next receive.
        """
        if self._pending:
            count = min(len(view) - got, len(self._pending))
            view[got : got + count] = self._pending[:count]
            self._pending = self._pending[count:]
            got += count
        recv_into = self._sock.recv_into
        try:
            while got < len(view):
                count = await self._next_recv(waited, deadline, op, recv_into, view[got:])
                if not count:
                    break
                got += count
                waited = False
        except asyncio.CancelledError:
            self._pending = bytes(view[:got]) + self._pending
            raise
        except OSError as exc:
            self._fail(exc, op, partial=bytes(view[:got]))
        return got

    async def _next_recv(
        self, waited: bool, deadline: Deadline | None, op: str, call: Callable[[Any], T], arg: Any
    ) -> T:
        """The next receive of a readn loop (:apue:`14.7`); *waited*: the last one found nothing.

        It waits for data first when the last call found none, unless the
        socket is non-blocking: then EAGAIN raises, to be reported as
        :class:`~transports.WouldBlock` with what arrived.
        """
        while True:
            if waited and self._timeout != 0:
                await self._wait_busy(False, deadline, op)
            try:
                return call(arg)
            except BlockingIOError:
                if self._timeout == 0:
                    raise
                waited = True

    def _fail(
        self, exc: OSError, op: str, *, partial: bytes | None = None, sent: int | None = None
    ) -> NoReturn:
        """Raise *exc* as the error of *op*, carrying what arrived (*partial*) or went out (*sent*)."""
        err = self._error(exc, op, sent)
        if partial is not None:
            err.partial = partial
        if sent is not None:
            err.bytes_sent = sent
        if err is exc:
            raise err
        raise err from exc

    # -- sending ---------------------------------------------------------------------------------

    async def send_all(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> None:
        """Return only once all of *data* was handed to the kernel (:apue:`14.7`, :apue:`16.8`).

        The timeout covers the whole call; on a timeout or an error the
        exception's ``bytes_sent`` tells how many bytes went out. On a
        cancellation, :attr:`last_bytes_sent` does.
        """
        if self._busy_send is not None:
            raise self._conflict("send_all", True)
        bits = self._sync._send_bits(flags) if flags else NOSIGNAL
        sock = self._sock
        sent = 0
        try:
            try:
                sent = sock.send(data, bits)
            except BlockingIOError:
                sent = 0  # the buffer is full: wait below
            if type(data) is bytes and sent == len(data):
                return
            with memoryview(data) as whole, whole.cast("B") as view:
                total = len(view)
                nowait = bits & _NOWAIT or self._timeout == 0
                deadline = self._deadline() if self._timeout else None
                while sent < total:
                    if nowait:
                        sent += sock.send(view[sent:], bits)  # until the kernel says EAGAIN
                        continue
                    # A short send means the buffer is full: wait before trying again.
                    await self._wait_busy(True, deadline, "send_all", sent)
                    try:
                        sent += sock.send(view[sent:], bits)
                    except BlockingIOError:
                        continue
        except OSError as exc:
            self._fail(exc, "send_all", sent=sent)
        finally:
            self._last_sent = sent


class SendfileOps(StreamOps[SendfileT, AddrT]):
    """``sendfile`` and ``recv_into_file`` for byte streams (:apue:`16.5`, :apue:`14.7`, :apue:`16.8`).

    The sync zero-copy engine (``transports._core.zerocopy``) does every
    step that does not wait: on this non-blocking socket it stops at
    ``EAGAIN`` with the running total, and is resumed after the wait. A
    regular file is read at an offset, so it goes on exactly where it stopped.
    """

    __slots__ = ()

    async def sendfile(
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

        The sync ``sendfile`` (:apue:`16.5`, :apue:`14.7`),
        resumed after each wait for room (:apue:`16.8`, :apue:`14.4`): zero copy with
        ``sendfile(2)`` where it can, a buffer otherwise unless
        ``fallback=False``. The file must be readable at an offset (a regular
        file or a seekable file object): a pipe or socket is refused with
        :class:`ValueError`, because reading it could stall the event loop and
        a resumed call could not go back for bytes it had read. The timeout
        covers the whole call; errors carry ``bytes_sent`` (file bytes), and
        a cancellation leaves the count in :attr:`last_bytes_sent`.
        """
        if self._busy_send is not None:
            raise self._conflict("sendfile", True)
        sent = 0
        try:
            with Outgoing(file, offset, count, headers, trailers, fallback, progress) as out:
                if not out.source.seekable:
                    raise ValueError(
                        f"sendfile: {file!r} cannot be read at an offset (a pipe, socket or device); the "
                        "async sendfile needs a regular file or a seekable file object; read the data "
                        "yourself and send it with send_all"
                    )
                engine = ZeroCopy(self._sync)
                engine.check(out)
                deadline = self._deadline() if self._timeout else None
                with corked(self._sock, out.extras):
                    if out.headers is not None:
                        await self._send_extra(out.headers, "sendfile headers", 0)
                    while True:
                        try:
                            sent = engine.send_file(out, sent)
                            break
                        except WouldBlock as exc:
                            sent = exc.bytes_sent or sent
                            if self._timeout == 0:
                                raise
                        await self._wait_busy(True, deadline, "sendfile", sent)
                    if out.trailers is not None:
                        await self._send_extra(out.trailers, "sendfile trailers", sent)
            return sent
        except TransportError as exc:
            sent = exc.bytes_sent or sent
            raise
        finally:
            self._last_sent = sent

    async def _send_extra(self, data: Buffer, op: str, file_bytes: int) -> None:
        try:
            await self.send_all(data)
        except TransportError as exc:
            as_extra(exc, op, file_bytes)
            raise

    async def recv_into_file(
        self,
        file: FileTarget,
        count: int | None = None,
        *,
        fallback: bool = True,
        progress: Progress | None = None,
    ) -> int:
        """Receive *count* bytes (until end of stream when None) straight into *file*; return how many.

        The sync ``recv_into_file`` (``splice(2)`` on Linux, a buffer
        otherwise; :apue:`16.5`, :apue:`14.7`), resumed after each wait for data
        (:apue:`16.8`, :apue:`14.4`). A path is created or truncated once; a file object
        or descriptor is written at its position, which advances. What arrived
        is in the file whatever ends the call, a cancellation included. If the
        stream ends first, :class:`~transports.UnexpectedEOF` says how
        many bytes arrived (``received``).

        The same file rules as the sync call: a file that cannot be written
        is refused with :class:`ValueError` before a byte is taken (bytes a
        cancelled receive kept included); a failed write raises
        :class:`~transports.FileWriteError` (``received``,
        ``written``, ``partial``), never a transport error; a connection error
        counts the bytes received, all in the file, in ``bytes_sent``.
        """
        count = check_count(count)
        check_progress(progress)
        if self._busy_recv is not None:
            raise self._conflict("recv_into_file", False)
        engine = ZeroCopy(self._sync)
        done = 0
        with Target(file) as target:
            try:
                if self._pending and count != 0:
                    done = self._write_pending(engine, target, count, progress)
                deadline = self._deadline() if self._timeout else None
                while True:
                    try:
                        done = engine.recv_file(target, count, fallback, progress, done)
                        break
                    except WouldBlock as exc:
                        done = exc.bytes_sent or done
                        if self._timeout == 0:
                            raise
                    await self._wait_busy(False, deadline, "recv_into_file")
            except TransportError as exc:
                say_received(exc, exc.bytes_sent or done)
                raise
        if count is not None and done < count:
            raise engine.short_file(done, count)
        return done

    def _write_pending(
        self, engine: ZeroCopy, target: Target, count: int | None, progress: Progress | None
    ) -> int:
        """Write what a cancelled receive kept back to *target* first."""
        data = self._pending if count is None else self._pending[:count]
        self._pending = self._pending[len(data) :]
        with memoryview(data) as view:
            try:
                target.write(view)
            except BaseException as exc:
                # These bytes left the stream in an earlier call: the error hands back what missed the file.
                engine.write_failed(exc, target, 0, len(data), data[written_before(exc) :])
        if progress is not None:
            progress(len(data))
        return len(data)
