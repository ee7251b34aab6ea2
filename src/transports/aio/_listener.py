"""What every async listener does: accept, iterate, serve (:apue:`16.4`, :apue:`16.8`, :apue:`14.4`).

The async twin of :mod:`transports._core.listener`: an :class:`AsyncListener`
owns a sync listener in non-blocking mode (:class:`~transports.aio._core.AsyncOwner`)
and takes each connection in the task's own step, after the wait.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Generic, Self, TypeVar, cast

from transports._core.listener import SocketListener
from transports.addresses import Address
from transports.aio._core import AsyncOwner, AsyncSocketTransport
from transports.errors import PeerRejected, TransportClosed

__all__ = ["AsyncListener"]

ListenerT = TypeVar("ListenerT", bound=SocketListener[Any, Any])
ConnT = TypeVar("ConnT", bound=AsyncSocketTransport[Any, Any])
AddrT = TypeVar("AddrT", bound=Address)


def _close_conn(conn: AsyncOwner[Any], _: object) -> None:
    conn.close()


class AsyncListener(AsyncOwner[ListenerT], Generic[ListenerT, ConnT, AddrT]):
    """Base of the async listeners: accept, iterate, serve (:apue:`16.4`, :apue:`16.8`, :apue:`14.4`)."""

    __slots__ = ()

    #: The async transport class that accepted connections become.
    _transport: ClassVar[type[AsyncSocketTransport[Any, Any]]]

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

    async def serve(self, handler: Callable[[ConnT], Awaitable[object]]) -> None:
        """Accept connections and run ``await handler(conn)`` in a task of its own for each (:apue:`16.4`, :apue:`15.11`).

        Each connection is closed when its handler returns or fails. A
        handler's exception is reported to the loop's exception handler and
        does not stop the server. :meth:`close` (from anywhere, a handler
        included) stops accepting; ``serve`` then waits for the handlers
        still running and returns. Cancelling ``serve`` cancels every
        handler and waits for them to end. Either way no task is left behind.
        """
        async with asyncio.TaskGroup() as group:
            async for conn in self:
                try:
                    task = group.create_task(self._handle(handler, conn), name=f"serve {conn!r}")
                except BaseException:
                    conn.close()
                    raise
                # A task cancelled before its first step never runs its body: close here too.
                task.add_done_callback(functools.partial(_close_conn, conn))

    async def _handle(self, handler: Callable[[ConnT], Awaitable[object]], conn: ConnT) -> None:
        try:
            await handler(conn)
        except Exception as exc:
            asyncio.get_running_loop().call_exception_handler(
                {
                    "message": f"serve on {self._sync._where()}: the handler failed for {conn!r}",
                    "exception": exc,
                    "connection": conn,
                    "listener": self,
                }
            )
        finally:
            conn.close()
