"""The async TLS listener: :class:`TLSListener` for :mod:`transports.aio` (:apue:`16.4`, :apue:`16.8`, :apue:`14.4`)."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from typing import Any, Generic, Self, TypeVar

from transports._closing import CloseOnAsyncExit
from transports._core.serving import Served
from transports._twins import docs_from
from transports.addresses import Address, InetAddress
from transports.aio.protocols import Listener, StreamTransport
from transports.errors import PeerRejected, TransportClosed
from transports.tls import listener as plain_listener
from transports.tls.aio_stream import TLSTransport
from transports.tls.engine import TLSEngine

__all__ = ["TLSListener"]

AddrT = TypeVar("AddrT", bound="Address")


@docs_from(plain_listener.TLSListener)
class TLSListener(
    plain_listener.TLSListenerBase[Listener[StreamTransport, AddrT]], CloseOnAsyncExit, Generic[AddrT]
):
    """Accepts connections of an async *listener* as :class:`TLSTransport` (:apue:`16.4`, :apue:`16.8`, :apue:`14.4`).

    The async :class:`transports.TLSListener`: ``accept`` does not wait
    for the handshake, which runs at the new transport's first call.
    """

    __slots__ = ()

    @classmethod
    async def listen(
        cls,
        host: str,
        port: int,
        *,
        context: ssl.SSLContext,
        backlog: int = 128,
        timeout: float | None = None,
    ) -> TLSListener[InetAddress]:
        from transports.aio.tcp import TCPListener

        context = plain_listener.check_server_context(context)
        return TLSListener(await TCPListener.listen(host, port, backlog=backlog, timeout=timeout), context)

    @property
    def address(self) -> AddrT:
        """The plain listener's address (port 0 resolved to the real port)."""
        return self._listener.address

    async def accept(self) -> TLSTransport:
        return TLSTransport(await self._listener.accept(), TLSEngine(self._context, server_side=True))

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> TLSTransport:
        """The next connection; iteration stops when the listener is closed."""
        while True:
            try:
                return await self.accept()
            except PeerRejected:
                continue
            except TransportClosed:
                raise StopAsyncIteration from None

    async def serve(
        self,
        handler: Callable[[TLSTransport], Awaitable[object]],
        *,
        grace: float | None = None,
        max_connections: int | None = None,
    ) -> Served:
        serve: Any = getattr(self._listener, "serve", None)
        if serve is None:
            raise plain_listener.serve_refusal(self._listener)

        async def run(conn: StreamTransport) -> object:
            async with TLSTransport(conn, TLSEngine(self._context, server_side=True)) as tls:
                return await handler(tls)

        served: Served = await serve(run, grace=grace, max_connections=max_connections)
        return served
