"""The async TLS transport: :class:`TLSTransport` over any async stream (:apue:`16.5`, :apue:`16.8`, :apue:`14.4`).

The same operations as :mod:`transports.tls.sync`, driven with awaits: the
steps themselves are written once, in :mod:`transports.tls._steps`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable
from typing import Self, TypeVar

from transports._closing import CloseOnAsyncExit
from transports._compat import Buffer
from transports._core.files import Target, check_count, check_progress
from transports._core.validate import check_room, check_size
from transports._core.zerocopy import Outgoing
from transports._twins import docs_from
from transports.addresses import Address
from transports.aio.protocols import StreamTransport
from transports.errors import (
    TransportError,
    TransportTimeout,
    UnexpectedEOF,
)
from transports.flags import RecvFlags, SendFlags
from transports.protocols import FileSource, FileTarget, ShutdownHow, WritableBuffer
from transports.tls import _steps, sync
from transports.tls._base import (
    TLSBase,
    at_once,
    check_how,
    default_context,
    refuse_flags,
    timed_out,
    unread_waiting,
)
from transports.tls.engine import TLSEngine
from transports.tls.errors import TLSError, TLSHandshakeTimeout

__all__ = ["TLSTransport"]

T = TypeVar("T")
AddrT = TypeVar("AddrT", bound="Address")

#: How many ciphertext bytes one read of the plain stream asks for.
_READ_SIZE = 64 * 1024


@docs_from(sync.TLSTransport)
class TLSTransport(TLSBase[StreamTransport], CloseOnAsyncExit):
    """TLS over a connected async byte stream (:apue:`16.5`, :apue:`16.8`, :apue:`14.4`).

    The async :class:`transports.TLSTransport`: the same contract, with
    coroutines for the calls that wait. ``shutdown("write")`` never waits: it
    queues ``close_notify`` and a task sends it at once (a later call, and
    :meth:`aclose`, wait for it first). ``close()`` sends ``close_notify``
    when it can go without waiting, as the sync face does.
    """

    __slots__ = (
        "_goodbye",
        "_handshaking",
        "_last_sent",
        "_receiving",
        "_sending",
        "_wire_busy",
        "_wire_waiters",
    )

    def __init__(self, stream: StreamTransport, engine: TLSEngine) -> None:
        super().__init__(stream, engine)
        #: The call sending (receiving) for its whole length, or ``None``: another task's call in
        #: the same direction is refused, as on every async stream of ours.
        self._sending: str | None = None
        self._receiving: str | None = None
        #: Whether a task is writing records; the others wait, so that records go out in order.
        self._wire_busy = False
        self._wire_waiters: list[asyncio.Future[None]] = []
        self._handshaking = asyncio.Lock()
        self._last_sent: int | None = None
        #: The task sending the close_notify that shutdown() queued, until it is done.
        self._goodbye: asyncio.Task[None] | None = None

    @classmethod
    async def wrap(
        cls,
        stream: StreamTransport,
        context: ssl.SSLContext,
        *,
        server_side: bool = False,
        server_hostname: str | None = None,
        session: ssl.SSLSession | None = None,
    ) -> Self:
        engine = TLSEngine(context, server_side=server_side, server_hostname=server_hostname, session=session)
        self = cls(stream, engine)
        try:
            await self.do_handshake()
        except BaseException:
            stream.close()
            raise
        return self

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        *,
        context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        session: ssl.SSLSession | None = None,
        timeout: float | None = None,
    ) -> Self:
        from transports.aio.tcp import TCPTransport

        context = default_context() if context is None else context
        loop = asyncio.get_running_loop()
        start = loop.time()
        stream = await TCPTransport.connect(host, port, timeout=timeout)
        if timeout is not None:
            stream.timeout = max(timeout - (loop.time() - start), 0.001)
        self = await cls.wrap(
            stream,
            context,
            server_hostname=host if server_hostname is None else server_hostname,
            session=session,
        )
        stream.timeout = timeout
        return self

    # -- the driver -------------------------------------------------------------------------------

    def _enter(self, op: str, sending: bool) -> None:
        """Mark *op* as this transport's call in one direction; refuse it while another task's is."""
        holder = self._sending if sending else self._receiving
        if holder is not None:
            what = "sending" if sending else "receiving"
            raise RuntimeError(
                f"{op} on a TLS transport while another task's {holder} is {what}: the records of the "
                "two would interleave; nothing was done. Await the other call first"
            )
        if sending:
            self._sending = op
        else:
            self._receiving = op

    async def _flush(self) -> None:
        """Send what the engine queued; one task writes at a time, and the others wait their turn."""
        while self._wire_busy:
            waiter = asyncio.get_running_loop().create_future()
            self._wire_waiters.append(waiter)
            await waiter
        engine = self._engine
        if not engine.wants_flush():
            return
        self._wire_busy = True
        try:
            while data := engine.data_to_send():
                await self._stream.send_all(data)
        finally:
            self._wire_busy = False
            waiters, self._wire_waiters = self._wire_waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def _recv(self, max_bytes: int) -> bytes:
        """:func:`transports.tls._steps.recv` unrolled: a receive is the hot path, and a generator costs a third of it."""
        engine = self._engine
        while True:
            data = engine.decrypt(max_bytes)
            if engine.wants_flush() and not self._wire_busy:  # else the task on the wire sends them too
                await self._flush()
            if data is not None:
                return data
            _steps.feed(engine, await self._stream.recv(_READ_SIZE))

    async def _drive(self, steps: _steps.Steps[T]) -> T:
        reply: bytes | None = None
        error: TransportError | None = None
        while True:
            try:
                request = steps.send(reply) if error is None else steps.throw(error)
            except StopIteration as stop:
                result: T = stop.value
                return result
            reply = error = None
            try:
                if request == _steps.FLUSH:
                    await self._flush()
                else:
                    reply = await self._stream.recv(_READ_SIZE)
            except TransportError as err:
                error = err

    async def _run(self, steps: _steps.Steps[T], op: str) -> T:
        """Drive one operation of :mod:`transports.tls._steps` with awaits, on one budget."""
        if self._goodbye is not None:
            await self._goodbye
        timeout = self._stream.timeout
        if timeout is None:
            return await self._drive(steps)
        try:
            async with asyncio.timeout(timeout):
                return await self._drive(steps)
        except TransportError:
            raise
        except TimeoutError as err:
            expired = timed_out(op, timeout)
            try:
                steps.throw(expired)  # the operation adds what it moved (bytes_sent, partial)
            except TransportError as annotated:
                raise annotated from err
            raise expired from err

    async def do_handshake(self) -> None:
        self._check_open("do_handshake")
        async with self._handshaking:
            if self._ready:  # another task may have run it meanwhile
                return
            try:
                await self._run(_steps.handshake(self._engine), "handshake")
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

    @property
    def last_bytes_sent(self) -> int | None:
        """Plaintext bytes the latest ``send_all``/``sendfile`` sent as records, however it ended."""
        return self._last_sent

    async def send(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> int:
        self._check_send("send", flags)
        if not self._ready:
            await self.do_handshake()
        self._enter("send", True)
        try:
            taken = self._engine.encrypt(memoryview(data).cast("B")[: _steps.SEND_CHUNK])
            await self._send_records("send")
        finally:
            self._sending = None
        return taken

    async def _within(self, op: str, call: Awaitable[T]) -> T:
        """Await *call* within the stream's timeout, after a ``close_notify`` that ``shutdown`` queued."""
        if self._goodbye is not None:
            await self._goodbye
        timeout = self._stream.timeout
        if timeout is None:
            return await call
        try:
            async with asyncio.timeout(timeout):
                return await call
        except TransportError:
            raise
        except TimeoutError as err:
            raise timed_out(op, timeout) from err

    async def _send_records(self, op: str) -> None:
        """Write the records just made, within the stream's timeout."""
        if self._goodbye is None and self._stream.timeout is None:
            await self._flush()  # the hot path: no budget to keep
        else:
            await self._within(op, self._flush())

    async def send_all(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> None:
        self._check_send("send_all", flags)
        if not self._ready:
            await self.do_handshake()
        view = memoryview(data).cast("B")
        self._enter("send_all", True)
        self._last_sent = 0
        try:
            if len(view) <= _steps.SEND_CHUNK:
                self._engine.encrypt(view)
                await self._send_records("send_all")
                self._last_sent = len(view)
            else:
                sent = [0]
                try:
                    await self._run(_steps.send_all(self._engine, view, sent), "send_all")
                finally:
                    self._last_sent = sent[0]
        finally:
            self._sending = None

    async def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        self._check_open("recv")
        refuse_flags(flags, RecvFlags)
        check_size("max_bytes", max_bytes)
        if not self._ready:
            await self.do_handshake()
        if max_bytes == 0:
            return b""
        if self._goodbye is None and self._stream.timeout is None:
            self._enter("recv", False)  # the hot path: no budget to keep, so no frame to keep it in
            try:
                return await self._recv(max_bytes)
            finally:
                self._receiving = None
        return await self._receive(max_bytes, "recv")

    async def _receive(self, max_bytes: int, op: str) -> bytes:
        """One receive of up to *max_bytes*, within the stream's timeout."""
        self._enter(op, False)
        try:
            return await self._within(op, self._recv(max_bytes))
        finally:
            self._receiving = None

    async def recv_into(
        self, buffer: WritableBuffer, nbytes: int = 0, flags: RecvFlags = RecvFlags.NONE
    ) -> int:
        self._check_open("recv_into")
        refuse_flags(flags, RecvFlags)
        check_room(buffer, nbytes)
        view = memoryview(buffer).cast("B")
        if not self._ready:
            await self.do_handshake()
        if not (nbytes or len(view)):
            return 0
        data = await self._receive(nbytes or len(view), "recv_into")
        view[: len(data)] = data
        return len(data)

    async def recv_exactly(self, n: int) -> bytes:
        self._check_open("recv_exactly")
        check_size("n", n)
        if not self._ready:
            await self.do_handshake()
        self._enter("recv_exactly", False)
        got = bytearray()
        try:
            return await self._within("recv_exactly", self._recv_exactly(n, got))
        except UnexpectedEOF:
            raise
        except TransportError as err:
            err.partial = bytes(got)
            raise
        finally:
            self._receiving = None

    async def _recv_exactly(self, n: int, got: bytearray) -> bytes:
        """The loop of ``recv_exactly``: :meth:`_recv` until :func:`transports.tls._steps.take` has all *n*."""
        if n == 0:
            return b""
        while (done := _steps.take(got, await self._recv(n - len(got)), n)) is None:
            pass
        return done

    async def sendfile(
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
        self._check_send("sendfile", SendFlags.NONE)
        with Outgoing(file, offset, count, headers, trailers, fallback, progress) as out:
            if not fallback:
                raise _steps.no_zero_copy("sendfile")
            if not self._ready:
                await self.do_handshake()
            self._enter("sendfile", True)
            self._last_sent = 0
            try:
                self._last_sent = await self._run(_steps.sendfile(self._engine, out), "sendfile")
            except TransportError as err:
                self._last_sent = err.bytes_sent
                raise
            finally:
                self._sending = None
            return self._last_sent

    async def recv_into_file(
        self,
        file: FileTarget,
        count: int | None = None,
        *,
        fallback: bool = True,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        self._check_open("recv_into_file")
        count = check_count(count)
        check_progress(progress)
        with Target(file) as target:
            if not fallback:
                raise _steps.no_zero_copy("recv_into_file")
            if not self._ready:
                await self.do_handshake()
            self._enter("recv_into_file", False)
            try:
                return await self._run(
                    _steps.recv_into_file(self._engine, target, count, progress), "recv_into_file"
                )
            finally:
                self._receiving = None

    # -- ending -----------------------------------------------------------------------------------

    def shutdown(self, how: ShutdownHow = "write") -> None:
        """``"write"``: queue ``close_notify`` and send it at once in a task; ``"read"``: the plain stream's too (:apue:`16.5`).

        It never waits, so it is a plain method; the next call on this
        transport, and :meth:`aclose`, wait until the notify went. Before
        the handshake has run, ``"write"`` raises :class:`~transports.TransportError`:
        await :meth:`do_handshake` first.
        """
        self._check_open("shutdown")
        check_how(how)
        if how != "read":
            if not self._ready:
                raise TransportError(
                    "shutdown('write') before the TLS handshake: await do_handshake() first", op="shutdown"
                )
            self._engine.close_notify()
            if self._goodbye is None:
                self._goodbye = asyncio.get_running_loop().create_task(self._send_goodbye(how))
        elif how == "read":
            self._stream.shutdown("read")

    async def _send_goodbye(self, how: ShutdownHow) -> None:
        try:
            await self._flush()
            if how == "both":
                self._stream.shutdown("both")
        except TransportError:
            pass  # the peer sees a truncation; our next call meets the same failure of the stream

    async def unwrap(self) -> StreamTransport:
        self._check_open("unwrap")
        if not self._ready:
            await self.do_handshake()
        self._enter("unwrap", False)
        try:
            self._enter("unwrap", True)
            try:
                leftover = await self._run(_steps.unwrap(self._engine), "unwrap")
            finally:
                self._sending = None
        finally:
            self._receiving = None
        if leftover:
            raise TLSError(
                "TLS unwrap: plaintext arrived with the peer's close_notify; it would be lost", op="shutdown"
            )
        self._closed = True
        return self._stream

    def close(self) -> None:
        """Send ``close_notify`` if it can go without waiting, read what waits unread, close the plain stream (:apue:`16.5`).

        As the sync ``close()``: the peer reads a clean end of stream, or,
        if the notify cannot go at once (the peer is gone, its window is
        full, another task is in the middle of a call), a truncation. Calls
        waiting in other tasks wake with :class:`~transports.TransportClosed`.
        """
        if self._closed:
            return
        self._closed = True
        try:
            if self._goodbye is not None:
                self._goodbye.cancel()
            busy = self._wire_busy or self._receiving is not None or self._sending is not None
            if self._ready and not busy:
                self._say_goodbye()
        finally:
            self._stream.close()

    def _say_goodbye(self) -> None:
        """Our ``close_notify``, and a read of what waits unread, each a ``MSG_DONTWAIT`` call run at once."""
        stream = self._stream
        with contextlib.suppress(Exception):  # best effort: whatever fails, the stream is closed next
            if not self._engine.notify_sent or self._engine.wants_flush():
                self._engine.close_notify()
                at_once(stream.send(self._engine.data_to_send(), SendFlags.DONTWAIT))
            for _ in range(8):  # what is already in the socket's buffer, not a stream that keeps coming
                if not unread_waiting(stream) or not at_once(stream.recv(_READ_SIZE, RecvFlags.DONTWAIT)):
                    break

    async def aclose(self) -> None:
        """:meth:`close`, once a ``close_notify`` that ``shutdown`` queued went, then a turn of the loop (:apue:`16.5`, :apue:`16.8`)."""
        if self._closed:
            return
        try:
            if self._goodbye is not None:
                with contextlib.suppress(Exception):
                    await self._goodbye
        finally:
            self.close()
        await asyncio.sleep(0)

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
