"""The in-memory transports on the async face: ``memory://`` and ``memorygram://`` for :mod:`transports.aio` (:apue:`16.5`, :apue:`16.8`).

The same transports as :mod:`transports.testing.memory` and
:mod:`transports.testing.memorygram` -- bounded buffers, end of stream,
half-close, timeouts, truncation reported, ``close()`` waking every blocked
call -- with coroutines for the calls that wait, on asyncio or uvloop. They
are those very classes' operations (``transports.testing._memstream`` and
``_memgram``) driven by :func:`run_async`, which waits on a future instead
of a condition variable: nothing but the waiting is written twice.

The names are shared with the sync face, so a sync end and an async end
talk to each other: ``transports.connect("memory://name")`` from a thread
reaches an ``aio.listen("memory://name")`` listener, and a sync
``memorygram`` endpoint can send to an async one. One end is used by one
face; a close from any thread wakes a task waiting on it.

>>> import asyncio
>>> from transports import aio
>>> async def main():
...     async with await aio.listen("memory://aio-doc-example") as listener:
...         async with await aio.connect("memory://aio-doc-example", timeout=5) as client:
...             async with await listener.accept() as server:
...                 await client.send_all(b"ping")
...                 return await server.recv_exactly(4)
>>> asyncio.run(main())
b'ping'
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Self, TypeVar

from transports._closing import CloseOnAsyncExit
from transports._compat import Buffer, WritableBuffer
from transports._core.serving import Served, check_grace, check_max_connections
from transports._twins import docs_from
from transports.addresses import Address, Datagram, NamedAddress
from transports.errors import TransportClosed, TransportError
from transports.flags import RecvFlags, SendFlags
from transports.kinds import Kind
from transports.testing import memory as sync_memory
from transports.testing import memorygram as sync_memorygram
from transports.testing._memgram import DatagramCore
from transports.testing._memory import CAPACITY, MemoryBase, Op
from transports.testing._memstream import ListenerCore, StreamCore
from transports.testing.memory import MemoryClasses, MemoryScheme, OpenArgsLike

__all__ = [
    "AsyncMemoryScheme",
    "MemoryDatagramTransport",
    "MemoryListener",
    "MemoryStreamTransport",
    "run_async",
]

T = TypeVar("T")


async def run_async(end: MemoryBase, op: Op[T]) -> T:
    """Drive *op* on the async face: each wait on a future its gate settles (:apue:`16.8`, :apue:`14.4`).

    The state is checked and changed holding the gate's lock, never across an
    await, so a cancelled call changed nothing it did not give back.
    """
    loop = asyncio.get_running_loop()
    try:
        wait = next(op)
        while True:
            gate = wait[0]
            with gate.cond:
                try:
                    waiting, left = end._must_wait(wait)
                except BaseException as exc:
                    wait = op.throw(exc)
                    continue
                if not waiting:
                    wait = op.send(None)
                    continue
                waiter = gate.waiter(loop)
            try:
                await asyncio.wait_for(waiter, left)  # left None: no bound
            except BaseException as exc:
                with gate.cond:
                    gate.forget(waiter)
                    if isinstance(exc, TimeoutError):
                        exc = end._timed_out(wait)
                        exc.__suppress_context__ = True
                    wait = op.throw(exc)
    except StopIteration as stop:
        result: T = stop.value
        return result


@docs_from(sync_memory.MemoryStreamTransport)
class MemoryStreamTransport(StreamCore, CloseOnAsyncExit):
    """One end of an in-memory byte stream, async (:apue:`16.5`, :apue:`17.2`, :apue:`16.8`, :apue:`14.4`).

    The twin of :class:`transports.MemoryStreamTransport`,
    made by :meth:`pair`, by ``await aio.connect("memory://name")`` or by a
    listener's ``accept``. A cancelled receive loses no byte: what it took is
    put back for the next one.
    """

    @property
    def last_bytes_sent(self) -> int | None:
        """How many bytes the latest ``send_all`` buffered for the peer, however it ended (None before one)."""
        return self._last_sent

    async def send(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> int:
        return await run_async(self, self._send_op(data, flags))

    async def send_all(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> None:
        await run_async(self, self._send_all_op(data, flags))

    async def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        return await run_async(self, self._recv_op(max_bytes, flags))

    async def recv_into(
        self, buffer: WritableBuffer, nbytes: int = 0, flags: RecvFlags = RecvFlags.NONE
    ) -> int:
        return await run_async(self, self._recv_into_op(buffer, nbytes, flags))

    async def recv_exactly(self, n: int) -> bytes:
        return await run_async(self, self._recv_exactly_op(n))


def _close_conn(conn: StreamCore, _: object) -> None:
    conn.close()


@docs_from(sync_memory.MemoryListener)
class MemoryListener(ListenerCore, CloseOnAsyncExit):
    """Accepts ``memory://name`` connections, async (:apue:`16.4`, :apue:`16.8`, :apue:`14.4`).

    The twin of :class:`transports.MemoryListener`; clients
    of either face may connect.
    """

    _accepts = MemoryStreamTransport

    async def accept(self) -> MemoryStreamTransport:
        conn = await run_async(self, self._accept_op())
        assert isinstance(conn, MemoryStreamTransport)
        return conn

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> MemoryStreamTransport:
        """The next connection; iteration stops when the listener is closed."""
        try:
            return await self.accept()
        except TransportClosed:
            raise StopAsyncIteration from None

    async def serve(
        self,
        handler: Callable[[MemoryStreamTransport], Awaitable[object]],
        *,
        grace: float | None = None,
        max_connections: int | None = None,
    ) -> Served:
        """Run ``await handler(conn)`` in a task per connection until the listener is closed (:apue:`16.4`, :apue:`15.11`).

        As the socket listeners' ``serve``: each connection is closed when
        its handler ends; a handler's exception goes to the loop's exception
        handler; with *max_connections*, the next connection waits in the
        backlog. :meth:`close` stops it: handlers waiting in a receive see
        end of stream once what arrived is read, and those still running
        after *grace* seconds (None: as long as they take) are cancelled and
        their connections closed (memory has no reset). Returns
        :class:`~transports.Served`.
        """
        grace = check_grace(grace)
        limit = check_max_connections(max_connections)
        tasks: dict[MemoryStreamTransport, asyncio.Task[None]] = {}
        counts = {"accepted": 0, "failed": 0}
        stopping = asyncio.Event()

        async def run(conn: MemoryStreamTransport) -> None:
            try:
                await handler(conn)
            except Exception as exc:
                if not (stopping.is_set() and isinstance(exc, TransportError)):  # not the stop's own doing
                    counts["failed"] += 1
                    self._report(conn, exc)
            finally:
                conn.close()
                tasks.pop(conn, None)
                self._changed()  # room for the next connection

        async with asyncio.TaskGroup() as group:
            while True:
                try:
                    if limit is not None:  # the next connection waits in the backlog until there is room
                        await run_async(self, self._until_op(lambda: len(tasks) < limit, "serve on"))
                    conn = await self.accept()
                except TransportClosed:
                    break
                counts["accepted"] += 1
                tasks[conn] = group.create_task(run(conn), name=f"serve {conn!r}")
                # A task cancelled before its first step never runs its body: close here too.
                tasks[conn].add_done_callback(functools.partial(_close_conn, conn))
            stopping.set()
            for conn in tasks:
                conn._stop_reading()
            if tasks:
                await asyncio.wait(list(tasks.values()), timeout=grace)
            cut = [(conn.remote_address, tasks[conn]) for conn in list(tasks)]
            for _, task in cut:
                task.cancel()
        return Served(
            accepted=counts["accepted"], failed=counts["failed"], cut=tuple(peer for peer, _ in cut)
        )

    def _report(self, conn: MemoryStreamTransport, exc: Exception) -> None:
        asyncio.get_running_loop().call_exception_handler(
            {
                "message": f"serve on {self._where()}: the handler failed for {conn!r}",
                "exception": exc,
                "connection": conn,
                "listener": self,
            }
        )


@docs_from(sync_memorygram.MemoryDatagramTransport)
class MemoryDatagramTransport(DatagramCore, CloseOnAsyncExit):
    """An in-memory datagram endpoint, async (:apue:`17.2`, :apue:`16.5`, :apue:`16.8`, :apue:`14.4`).

    The twin of :class:`transports.MemoryDatagramTransport`:
    reliable and ordered, a full queue makes senders wait, a message that
    does not fit the receive buffer raises MessageTruncated with the part
    that fitted.
    """

    @classmethod
    async def bind(cls, name: str | None = None, *, capacity: int = CAPACITY) -> Self:
        return cls(name, capacity=capacity)

    @classmethod
    async def connect(cls, name: str | NamedAddress, *, capacity: int = CAPACITY) -> Self:
        return cls._connected(name, capacity)

    async def send(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> int:
        return await run_async(self, self._send_op(data, flags))

    async def send_to(
        self, data: Buffer, address: Address | tuple[str, int] | str, flags: SendFlags = SendFlags.NONE
    ) -> int:
        return await run_async(self, self._send_to_op(data, address, flags))

    async def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        return await run_async(self, self._recv_op(max_bytes, flags))

    async def recv_into(
        self, buffer: WritableBuffer, nbytes: int = 0, flags: RecvFlags = RecvFlags.NONE
    ) -> int:
        return await run_async(self, self._recv_into_op(buffer, nbytes, flags))

    async def recv_from(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> Datagram:
        return await run_async(self, self._recv_from_op(max_bytes, flags))


#: The async face's memory classes.
AIO_CLASSES = MemoryClasses(MemoryStreamTransport, MemoryListener, MemoryDatagramTransport, "aio")


class AsyncMemoryScheme:
    """The async registry entries for ``memory://`` and ``memorygram://`` (:apue:`16.4`, :apue:`16.8`, :apue:`14.4`).

    Opening a memory transport never waits: each coroutine is the sync
    ``MemoryScheme`` of :mod:`transports.testing.memory` making this module's classes.
    """

    def __init__(self, kind: Kind) -> None:
        self._opener = MemoryScheme(kind, AIO_CLASSES)
        self.kind = kind
        self.description = self._opener.description

    async def connect(self, url: str, args: OpenArgsLike) -> MemoryStreamTransport | MemoryDatagramTransport:
        conn: MemoryStreamTransport | MemoryDatagramTransport = self._opener.connect(url, args)
        return conn

    async def listen(self, url: str, args: OpenArgsLike) -> MemoryListener:
        listener: MemoryListener = self._opener.listen(url, args)
        return listener

    async def bind(self, url: str, args: OpenArgsLike) -> MemoryDatagramTransport:
        endpoint: MemoryDatagramTransport = self._opener.bind(url, args)
        return endpoint
