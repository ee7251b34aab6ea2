"""What every async listener does: accept, iterate, serve (:apue:`16.4`, :apue:`16.8`, :apue:`14.4`).

The async twin of :mod:`transports._core.listener`: an :class:`AsyncListener`
owns a sync listener in non-blocking mode (:class:`~transports.aio._core.AsyncOwner`)
and takes each connection in the task's own step, after the wait.
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Generic, Self, TypeVar, cast

from transports._core.listener import SocketListener
from transports._core.serving import SKIPPED, Served, Serving
from transports.addresses import Address
from transports.aio._core import AsyncOwner, AsyncSocketTransport
from transports.errors import PeerRejected, TransportClosed

__all__ = ["AsyncListener"]

ListenerT = TypeVar("ListenerT", bound=SocketListener[Any, Any])
ConnT = TypeVar("ConnT", bound=AsyncSocketTransport[Any, Any])
AddrT = TypeVar("AddrT", bound=Address)


def _forget(
    serving: Serving[Any], tasks: dict[Any, asyncio.Task[None]], conn: AsyncOwner[Any], _: object
) -> None:
    """A handler task ended: close its connection (a task cancelled before its first step ran nothing)."""
    tasks.pop(conn, None)
    conn.close()
    serving.ended(conn, None)


class AsyncListener(AsyncOwner[ListenerT], Generic[ListenerT, ConnT, AddrT]):
    """Base of the async listeners: accept, iterate, serve (:apue:`16.4`, :apue:`16.8`, :apue:`14.4`)."""

    __slots__ = ()

    #: The async transport class that accepted connections become.
    _transport: ClassVar[type[AsyncSocketTransport[Any, Any]]]
    #: The sync listener class this one wraps.
    _sync_class: ClassVar[type[SocketListener[Any, Any]]]

    @classmethod
    def from_socket(cls, sock: socket.socket) -> Self:
        """Wrap a listening :class:`socket.socket`, taking ownership of it (:apue:`16.4`, :apue:`16.8`).

        The sync class's ``from_socket`` checks it, so the same sockets are
        refused (closed, of another family or type, not listening) and left
        open, still the caller's. The socket becomes non-blocking: the event
        loop does the waiting. A Unix socket's file is never removed by the
        adopted listener.
        """
        return cls._wrap(cast(ListenerT, cls._sync_class.from_socket(sock)))

    @property
    def address(self) -> AddrT:
        """Where connections arrive, port 0 resolved to the real port."""
        return cast(AddrT, self._sync.address)

    async def accept(self) -> ConnT:
        """Wait for the next connection (:apue:`16.4`, :apue:`16.8`, :apue:`14.4`).

        The connection is taken from the kernel in this task's own step, so
        a cancelled ``accept`` leaves it queued for the next one. The new
        transport has no timeout, whatever the listener's.
        """
        conn = await self._retry(False, "accept on", 0, self._sync.accept)
        try:
            return cast(ConnT, self._transport._wrap(conn))
        except BaseException:
            conn.close()
            raise

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> ConnT:
        """Accept connections until the listener is closed (then stop quietly); skip rejected peers."""
        while True:
            try:
                return await self.accept()
            except PeerRejected:
                continue  # already disconnected; the next peer may be allowed
            except TransportClosed:
                raise StopAsyncIteration from None

    async def serve(
        self,
        handler: Callable[[ConnT], Awaitable[object]],
        *,
        grace: float | None = None,
        max_connections: int | None = None,
    ) -> Served:
        """Accept connections and run ``await handler(conn)`` in a task of its own for each (:apue:`16.4`, :apue:`15.11`).

        Each connection is closed when its handler returns or fails. A
        handler's exception is reported to the loop's exception handler and
        does not stop the server. With *max_connections*, at most that many
        handlers run at once: the next connection waits in the listen
        backlog, not accepted.

        :meth:`close` (from the loop's thread, a handler included) stops
        it: nothing more is accepted (a connect is refused), handlers waiting
        in a receive wake to end of stream, and the handlers still running
        after *grace* seconds (None: as long as they take) are cancelled,
        their connection reset (``SO_LINGER`` 0). ``serve`` returns once
        every handler ended, with :class:`~transports.Served`
        saying which connections were cut. Cancelling ``serve`` cancels
        every handler, closes their connections and waits for them to end.
        Either way no task is left behind; the listener stays open.
        """
        room = asyncio.Event()
        serving: Serving[ConnT] = Serving(grace, max_connections, os.getpid(), room.set)
        tasks: dict[ConnT, asyncio.Task[None]] = {}
        with self._sync._serving(serving):
            async with asyncio.TaskGroup() as group:
                while (conn := await self._next(serving, room)) is not None:
                    try:
                        task = group.create_task(self._handle(serving, handler, conn), name=f"serve {conn!r}")
                    except BaseException:
                        conn.close()
                        serving.ended(conn, None)
                        raise
                    tasks[conn] = task
                    # A task cancelled before its first step never runs its body: close here too.
                    task.add_done_callback(functools.partial(_forget, serving, tasks, conn))
                serving.stop()
                if tasks:
                    await asyncio.wait(tasks.values(), timeout=serving.left())
                for conn in serving.cut_rest():
                    if (running := tasks.get(conn)) is not None:
                        running.cancel()
        return serving.result()

    async def _next(self, serving: Serving[ConnT], room: asyncio.Event) -> ConnT | None:
        """The next connection to serve, once there is room; None once the stop began."""
        while True:
            while not serving.has_room:
                room.clear()
                await room.wait()
            if serving.stopping:
                return None
            try:
                conn = await self.accept()
            except SKIPPED:
                continue
            except TransportClosed:
                return None
            return conn if serving.take(conn) else None

    async def _handle(
        self, serving: Serving[ConnT], handler: Callable[[ConnT], Awaitable[object]], conn: ConnT
    ) -> None:
        failure: Exception | None = None
        try:
            await handler(conn)
        except Exception as exc:
            failure = exc
        finally:
            conn.close()
            report = serving.ended(conn, failure)  # a cancelled handler's CancelledError is no failure
        if report:
            asyncio.get_running_loop().call_exception_handler(
                {
                    "message": f"serve on {self._sync._where()}: the handler failed for {conn!r}",
                    "exception": failure,
                    "connection": conn,
                    "listener": self,
                }
            )
