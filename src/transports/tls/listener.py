"""A TLS listener: any listener of streams whose connections come out as TLS transports (:apue:`16.4`)."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from transports._closing import CloseOnExit
from transports._core.serving import Served
from transports._handles import Handle
from transports.addresses import Address, InetAddress
from transports.errors import PeerRejected, TransportClosed
from transports.protocols import Listener, StreamTransport
from transports.tls.engine import TLSEngine
from transports.tls.sync import TLSTransport

__all__ = ["TLSListener", "TLSListenerBase", "check_server_context", "serve_refusal"]

AddrT = TypeVar("AddrT", bound="Address")
#: The plain listener a TLS listener wraps, of either face.
PlainT = TypeVar("PlainT", bound="Handle")


def check_server_context(context: object) -> ssl.SSLContext:
    """*context* if it can serve TLS; else an error saying how to make one (:apue:`16.4`)."""
    if not isinstance(context, ssl.SSLContext):
        raise TypeError(
            f"a TLS listener needs an ssl.SSLContext with a certificate, not {context!r}: "
            "ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH); ctx.load_cert_chain(cert, key)"
        )
    return context


def serve_refusal(listener: object) -> TypeError:
    """The error of ``serve`` on a TLS listener over a listener that cannot serve (:apue:`15.11`)."""
    return TypeError(
        f"serve() needs a listener that serves; {type(listener).__name__} has no serve(): "
        "accept in a loop instead"
    )


class TLSListenerBase(Generic[PlainT]):
    """What both faces' TLS listeners answer without waiting: the plain listener's facts and the context (:apue:`16.4`)."""

    __slots__ = ("_context", "_listener")

    def __init__(self, listener: PlainT, context: ssl.SSLContext) -> None:
        self._listener = listener
        self._context = check_server_context(context)

    @property
    def listener(self) -> PlainT:
        """The plain listener underneath."""
        return self._listener

    @property
    def context(self) -> ssl.SSLContext:
        """The server context each connection's handshake uses."""
        return self._context

    @property
    def closed(self) -> bool:
        """Whether the plain listener is closed."""
        return self._listener.closed

    @property
    def timeout(self) -> float | None:
        """The plain listener's timeout for ``accept``."""
        return self._listener.timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self._listener.timeout = value

    def fileno(self) -> int:
        """The plain listener's descriptor (:apue:`16.2`)."""
        return self._listener.fileno()

    def close(self) -> None:
        """Close the plain listener; connections already accepted stay open (:apue:`16.2`)."""
        self._listener.close()

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.TLSListener over {self._listener!r}>"


class TLSListener(TLSListenerBase[Listener[StreamTransport, AddrT]], CloseOnExit, Generic[AddrT]):
    """Accepts connections of *listener* and hands them out as :class:`~transports.TLSTransport` (:apue:`16.4`).

    ``accept`` does not wait for the handshake: it runs at the new
    transport's first call (or :meth:`~transports.TLSTransport.do_handshake`),
    in the thread that serves the connection, so that a slow or hostile
    client holds up only its own handler. Its failures
    (:class:`~transports.tls.TLSError`) are raised there.
    """

    __slots__ = ()

    @classmethod
    def listen(
        cls,
        host: str,
        port: int,
        *,
        context: ssl.SSLContext,
        backlog: int = 128,
        timeout: float | None = None,
    ) -> TLSListener[InetAddress]:
        """Listen by TCP on *host*:*port* (0: a free port) for TLS connections (:apue:`16.4`).

        *context* is a server's: ``ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)``
        with ``load_cert_chain(cert, key)``; ask for client certificates with
        ``context.verify_mode = ssl.CERT_REQUIRED`` and ``load_verify_locations``.
        """
        from transports.tcp import TCPListener

        context = check_server_context(context)
        return TLSListener(TCPListener.listen(host, port, backlog=backlog, timeout=timeout), context)

    @property
    def address(self) -> AddrT:
        """The plain listener's address (port 0 resolved to the real port)."""
        return self._listener.address

    def accept(self) -> TLSTransport:
        """The next connection as a TLS server transport, its handshake still to run (:apue:`16.4`)."""
        return TLSTransport(self._listener.accept(), TLSEngine(self._context, server_side=True))

    def __iter__(self) -> Iterator[TLSTransport]:
        """Accept connections until the listener is closed (then stop quietly)."""
        while True:
            try:
                yield self.accept()
            except PeerRejected:
                continue
            except TransportClosed:
                return

    def serve(
        self,
        handler: Callable[[TLSTransport], object],
        *,
        grace: float | None = None,
        max_connections: int | None = None,
    ) -> Served:
        """Serve as the plain listener's ``serve`` does, each handler given a TLS transport (:apue:`16.4`, :apue:`15.11`).

        The handshake runs in the handler's thread at its first call; the
        transport is closed (``close_notify`` first) when the handler returns.
        """
        serve: Any = getattr(self._listener, "serve", None)
        if serve is None:
            raise serve_refusal(self._listener)

        def run(conn: StreamTransport) -> object:
            with TLSTransport(conn, TLSEngine(self._context, server_side=True)) as tls:
                return handler(tls)

        served: Served = serve(run, grace=grace, max_connections=max_connections)
        return served
