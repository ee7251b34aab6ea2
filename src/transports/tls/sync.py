"""The sync face of the TLS engine: :class:`TLSTransport` over any sync stream transport (:apue:`16.5`)."""

from __future__ import annotations

import contextlib
import functools
import ssl
import threading
from collections.abc import Callable
from typing import Self, TypeVar

from transports._closing import CloseOnExit
from transports._compat import Buffer
from transports._core.deadline import Deadline
from transports._core.files import Target, check_count, check_progress
from transports._core.validate import check_room, check_size
from transports._core.zerocopy import Outgoing
from transports.errors import TransportError, TransportTimeout, UnexpectedEOF
from transports.flags import RecvFlags, SendFlags
from transports.protocols import FileSource, FileTarget, ShutdownHow, StreamTransport, WritableBuffer
from transports.tls import _steps
from transports.tls._base import TLSBase, check_how, default_context, refuse_flags, unread_waiting
from transports.tls.engine import TLSEngine
from transports.tls.errors import TLSError, TLSHandshakeTimeout

__all__ = ["TLSTransport"]

T = TypeVar("T")

#: How many ciphertext bytes one read of the plain stream asks for (a record is at most 16 KiB plus framing).
_READ_SIZE = 64 * 1024


class TLSTransport(TLSBase[StreamTransport], CloseOnExit):
    """TLS over a connected byte stream: TCP, a Unix stream, the memory transport, a faulty one (:apue:`16.5`).

    It is a :class:`~transports.StreamTransport` with the same contract:
    ``send`` returns how many plaintext bytes went out as records, ``recv``
    returns ``b""`` only at the peer's ``close_notify``, and a plaintext EOF
    without it raises :class:`~transports.tls.TLSTruncated`. ``shutdown("write")``
    sends ``close_notify``. *timeout* is the plain stream's, spent once per
    operation however many reads and writes it takes.

    Made directly (``TLSTransport(stream, TLSEngine(context, ...))``, as a
    :class:`~transports.TLSListener` does), the handshake runs at the
    first call that moves bytes, or at :meth:`do_handshake`; :meth:`wrap`
    and :meth:`connect` run it before they return. One thread may send
    while another receives, and :meth:`close` from any thread wakes both.
    """

    __slots__ = ("_engine_lock", "_recv_lock", "_send_lock")

    def __init__(self, stream: StreamTransport, engine: TLSEngine) -> None:
        super().__init__(stream, engine)
        #: The engine is not safe to use from two threads at once; held only while it computes.
        self._engine_lock = threading.Lock()
        #: Held by a send for its whole length, so that records go out in the order they were made.
        self._send_lock = threading.RLock()
        #: Held by a receive for its whole length: two reads of the plain stream would split records.
        self._recv_lock = threading.Lock()

    @classmethod
    def wrap(
        cls,
        stream: StreamTransport,
        context: ssl.SSLContext,
        *,
        server_side: bool = False,
        server_hostname: str | None = None,
        session: ssl.SSLSession | None = None,
    ) -> Self:
        """Run the handshake over *stream* and return the TLS transport; *stream* is closed on failure (:apue:`16.4`).

        For STARTTLS, wrap a stream that already carried plaintext. Raises
        :class:`~transports.tls.TLSCertificateError` when the peer's
        certificate does not verify, :class:`~transports.tls.TLSHandshakeError`
        for any other failure and :class:`~transports.tls.TLSHandshakeTimeout`
        when the stream's timeout runs out first. *session* (a client's)
        resumes an earlier connection's session.
        """
        engine = TLSEngine(context, server_side=server_side, server_hostname=server_hostname, session=session)
        self = cls(stream, engine)
        try:
            self.do_handshake()
        except BaseException:
            stream.close()
            raise
        return self

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        *,
        context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        session: ssl.SSLSession | None = None,
        timeout: float | None = None,
    ) -> Self:
        """Connect by TCP to *host*:*port* and run the handshake, both within *timeout* (:apue:`16.4`).

        *context* defaults to ``ssl.create_default_context()``: the peer's
        certificate is verified against the system's CAs and *server_hostname*
        (default *host*), and TLS 1.2 is the oldest version allowed.
        """
        from transports.tcp import TCPTransport

        context = default_context() if context is None else context
        deadline = Deadline(timeout)
        stream = TCPTransport.connect(host, port, timeout=timeout)
        stream.timeout = None if timeout is None else max(deadline.left() or 0.0, 0.001)
        self = cls.wrap(
            stream,
            context,
            server_hostname=host if server_hostname is None else server_hostname,
            session=session,
        )
        stream.timeout = timeout
        return self

    # -- the driver -------------------------------------------------------------------------------

    def _call(self, deadline: Deadline, op: str, call: Callable[[], T]) -> T:
        """One call of the plain stream with what is left of *deadline* as its timeout."""
        if deadline.timeout:
            left = deadline.left()
            if left == 0:
                raise TransportTimeout(f"TLS {op} timed out after {deadline.timeout} s", op=op, network="tls")
            self._stream.timeout = left
            try:
                return call()
            finally:
                with contextlib.suppress(OSError):  # a stream the failure closed has no timeout to restore
                    self._stream.timeout = deadline.timeout
        return call()

    def _flush(self, deadline: Deadline, op: str) -> None:
        """Send what the engine queued, in order: the bytes are taken and sent under the send lock.

        It goes on until nothing is queued, so that records a receive queued
        meanwhile (it never waits for the send lock: see :meth:`_flush_if_free`)
        go out with ours.
        """
        with self._send_lock:
            while True:
                with self._engine_lock:
                    data = self._engine.data_to_send()
                if not data:
                    return
                self._call(deadline, op, functools.partial(self._stream.send_all, data))

    def _flush_if_free(self, deadline: Deadline, op: str) -> None:
        """A receive's flush: at once if no send is under way, else left to that send's :meth:`_flush`.

        A receive that waited for a send blocked on a full socket could wait
        for ever: the peer may be waiting for us to read before it reads.
        """
        if self._send_lock.acquire(blocking=False):
            try:
                self._flush(deadline, op)
            finally:
                self._send_lock.release()

    def _run(self, steps: _steps.Steps[T], op: str, *, receiving: bool = False) -> T:
        """Drive one operation of :mod:`transports.tls._steps` with blocking calls, on one budget.

        *receiving*: the operation only receives, so its flushes never wait for a send.
        """
        deadline = Deadline(self._stream.timeout)
        reply: bytes | None = None
        error: TransportError | None = None
        while True:
            try:
                with self._engine_lock:
                    request = steps.send(reply) if error is None else steps.throw(error)
            except StopIteration as stop:
                result: T = stop.value
                return result
            reply = error = None
            try:
                if request == _steps.FLUSH:
                    (self._flush_if_free if receiving else self._flush)(deadline, op)
                else:
                    reply = self._call(deadline, op, lambda: self._stream.recv(_READ_SIZE))
            except TransportError as err:
                error = err

    def do_handshake(self) -> None:
        """Run the handshake now, if it has not run (:apue:`16.4`).

        A transport a :class:`~transports.TLSListener` accepted runs it
        at its first call; call this to meet its errors at a place of your
        choosing. Raises what :meth:`wrap` raises.
        """
        self._check_open("do_handshake")
        with self._recv_lock, self._send_lock:
            if self._ready:  # another thread or task may have run it meanwhile
                return
            try:
                self._run(_steps.handshake(self._engine), "handshake")
            except TLSError:
                raise
            except TransportTimeout as err:
                raise TLSHandshakeTimeout(
                    f"TLS handshake timed out after {self._stream.timeout} s; the peer may not speak TLS",
                    op="connect",
                    network="tls",
                ) from err
            self._ready = True

    # -- moving bytes -----------------------------------------------------------------------------

    def send(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> int:
        """Encrypt up to 64 KiB of *data*, send all its records, return how many plaintext bytes (:apue:`16.5`)."""
        self._check_send("send", flags)
        if not self._ready:
            self.do_handshake()
        with self._send_lock:
            return self._send_one(memoryview(data).cast("B")[: _steps.SEND_CHUNK])

    def _send_one(self, view: memoryview) -> int:
        """Encrypt *view* (at most :data:`~transports.tls._steps.SEND_CHUNK`) and send its records in one call."""
        with self._engine_lock:
            taken = self._engine.encrypt(view)
            data = self._engine.data_to_send()
        try:
            self._stream.send_all(data)  # one call: the stream's timeout is the whole budget
            if self._engine.wants_flush():  # a receive queued records meanwhile
                self._flush(Deadline(self._stream.timeout), "send")
        except TransportError as err:
            err.bytes_sent = 0  # plaintext counts once all its records went
            raise
        return taken

    def send_all(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> None:
        """Send all of *data* within one timeout; an error's ``bytes_sent`` counts plaintext (:apue:`16.5`)."""
        self._check_send("send_all", flags)
        if not self._ready:
            self.do_handshake()
        view = memoryview(data).cast("B")
        with self._send_lock:
            if len(view) <= _steps.SEND_CHUNK:
                self._send_one(view)
            else:
                self._run(_steps.send_all(self._engine, view, [0]), "send_all")

    def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        """Up to *max_bytes* of plaintext; ``b""`` only after the peer's ``close_notify`` (:apue:`16.5`)."""
        self._check_open("recv")
        refuse_flags(flags, RecvFlags)
        check_size("max_bytes", max_bytes)
        if not self._ready:
            self.do_handshake()
        if max_bytes == 0:
            return b""
        with self._recv_lock:
            return self._recv(max_bytes)

    def _recv(self, max_bytes: int, deadline: Deadline | None = None) -> bytes:
        """:func:`transports.tls._steps.recv` unrolled: a receive is the hot path, and a generator costs a third of it.

        *deadline* is the operation's budget when it has begun already (``recv_exactly``).
        """
        engine = self._engine
        lock = self._engine_lock
        stream = self._stream
        while True:
            with lock:
                data = engine.decrypt(max_bytes)
                flush = engine.wants_flush()
            if flush:
                deadline = deadline or Deadline(stream.timeout)
                self._flush_if_free(deadline, "recv")
            if data is not None:
                return data
            if stream.timeout is None:
                raw = stream.recv(_READ_SIZE)
            else:
                deadline = deadline or Deadline(stream.timeout)
                raw = self._call(deadline, "recv", lambda: stream.recv(_READ_SIZE))
            with lock:
                _steps.feed(engine, raw)

    def recv_into(self, buffer: WritableBuffer, nbytes: int = 0, flags: RecvFlags = RecvFlags.NONE) -> int:
        """Receive plaintext into *buffer* (at most *nbytes*, or its size when 0); return the count (:apue:`16.5`)."""
        self._check_open("recv_into")
        refuse_flags(flags, RecvFlags)
        check_room(buffer, nbytes)
        view = memoryview(buffer).cast("B")
        if not self._ready:
            self.do_handshake()
        if not (nbytes or len(view)):
            return 0
        with self._recv_lock:
            data = self._recv(nbytes or len(view))
        view[: len(data)] = data
        return len(data)

    def recv_exactly(self, n: int) -> bytes:
        """Exactly *n* plaintext bytes within one timeout, or :class:`~transports.UnexpectedEOF` (:apue:`14.7`)."""
        self._check_open("recv_exactly")
        check_size("n", n)
        if not self._ready:
            self.do_handshake()
        if n == 0:
            return b""
        got = bytearray()
        deadline = Deadline(self._stream.timeout)
        with self._recv_lock:
            try:
                while (done := _steps.take(got, self._recv(n - len(got), deadline), n)) is None:
                    pass
            except UnexpectedEOF:
                raise
            except TransportError as err:
                err.partial = bytes(got)
                raise
        return done

    def sendfile(
        self,
        file: FileSource,
        offset: int = 0,
        count: int | None = None,
        *,
        headers: Buffer = b"",
        trailers: Buffer = b"",
        fallback: bool = True,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Send part or all of *file* through a buffer: records are encrypted here, so zero copy cannot be (:apue:`14.7`).

        With ``fallback=False`` it raises :class:`~transports.ZeroCopyUnavailable`
        before a byte moves. Returns the number of file bytes sent.
        """
        self._check_send("sendfile", SendFlags.NONE)
        with Outgoing(file, offset, count, headers, trailers, fallback, progress) as out:
            if not fallback:
                raise _steps.no_zero_copy("sendfile")
            if not self._ready:
                self.do_handshake()
            with self._send_lock:
                return self._run(_steps.sendfile(self._engine, out), "sendfile")

    def recv_into_file(
        self,
        file: FileTarget,
        count: int | None = None,
        *,
        fallback: bool = True,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Write plaintext to *file* until *count* bytes, or until the peer's ``close_notify`` (:apue:`14.7`).

        The bytes pass through a buffer; ``fallback=False`` raises
        :class:`~transports.ZeroCopyUnavailable` before a byte is taken.
        """
        self._check_open("recv_into_file")
        count = check_count(count)
        check_progress(progress)
        with Target(file) as target:
            if not fallback:
                raise _steps.no_zero_copy("recv_into_file")
            if not self._ready:
                self.do_handshake()
            with self._recv_lock:
                return self._run(
                    _steps.recv_into_file(self._engine, target, count, progress),
                    "recv_into_file",
                    receiving=True,
                )

    # -- ending -----------------------------------------------------------------------------------

    def shutdown(self, how: ShutdownHow = "write") -> None:
        """``"write"``: send ``close_notify`` (the peer reads ``b""``); ``"read"``/``"both"``: also the plain stream's (:apue:`16.5`)."""
        self._check_open("shutdown")
        check_how(how)
        if not self._ready:
            self.do_handshake()
        if how != "read":
            with self._send_lock:
                with self._engine_lock:
                    self._engine.close_notify()
                self._flush(Deadline(self._stream.timeout), "shutdown")
        if how != "write":
            self._stream.shutdown(how)

    def unwrap(self) -> StreamTransport:
        """Exchange ``close_notify`` both ways and return the plain stream, still open (:apue:`16.5`).

        Raises :class:`~transports.tls.TLSError` when plaintext already
        followed the peer's ``close_notify`` (it would be lost).
        """
        self._check_open("unwrap")
        if not self._ready:
            self.do_handshake()
        with self._recv_lock, self._send_lock:
            leftover = self._run(_steps.unwrap(self._engine), "unwrap")
        if leftover:
            raise TLSError(
                "TLS unwrap: plaintext arrived with the peer's close_notify; it would be lost", op="shutdown"
            )
        self._closed = True
        return self._stream

    def close(self) -> None:
        """Send ``close_notify`` if it can go without waiting, then close the plain stream (:apue:`16.5`).

        The peer then reads a clean end of stream. If the notify cannot go
        out at once (the peer is gone, its window is full, another thread is
        in the middle of a call), the stream is closed anyway and the peer
        sees the truncation. Bytes that arrived unread (TLS 1.3 session
        tickets, say) are read first, so that the kernel ends the connection
        with FIN, not with a reset that could destroy the notify in flight.
        Calls blocked in other threads wake with
        :class:`~transports.TransportClosed`.
        """
        if self._closed:
            return
        self._closed = True
        try:
            if self._ready and self._send_lock.acquire(blocking=False):
                try:
                    if self._recv_lock.acquire(blocking=False):
                        try:
                            self._say_goodbye()
                        finally:
                            self._recv_lock.release()
                finally:
                    self._send_lock.release()
        finally:
            self._stream.close()

    def _say_goodbye(self) -> None:
        """Send our ``close_notify`` and read what waits unread, never waiting (for :meth:`close`).

        ``MSG_DONTWAIT`` on each call, not a timeout of 0, and only when no
        other call is in flight: another thread's timeout is its own.
        """
        stream = self._stream
        with contextlib.suppress(TransportError, OSError):
            if not self._engine.notify_sent:
                with self._engine_lock:
                    self._engine.close_notify()
                    data = self._engine.data_to_send()
                stream.send(data, SendFlags.DONTWAIT)
            for _ in range(8):  # what is already in the socket's buffer, not a stream that keeps coming
                if not unread_waiting(stream) or not stream.recv(_READ_SIZE, RecvFlags.DONTWAIT):
                    break
