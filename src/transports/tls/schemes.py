"""The TLS rows of the scheme table: ``tls://``, ``tls+unix://`` and ``tls+memory://`` on both faces (:apue:`16.4`).

A TLS URL is the URL of a plain stream with the scheme replaced:
``tls://host:port`` runs over ``tcp://host:port``, ``tls+unix:///run/app.sock``
over ``unix:///run/app.sock``, ``tls+memory://name`` over ``memory://name``.
Opening one opens the plain stream through the same table (so its options,
timeout and errors are the plain scheme's), then runs the handshake over it:
``connect`` wraps the stream in a :class:`~transports.TLSTransport`,
``listen`` wraps the listener in a :class:`~transports.TLSListener`.
``bind`` is refused: TLS needs a connection. The table
(``transports._builtin_schemes``) names this module and imports it only when
a TLS URL is first opened, so ``import transports`` never loads :mod:`ssl`.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, TypeVar, cast

import attrs

from transports._core.deadline import Deadline
from transports.addresses import InetAddress
from transports.errors import AddressError
from transports.kinds import Kind
from transports.registry import OpenArgs, lookup_async_kind, lookup_kind, parse_address
from transports.tls import TLSListener, TLSTransport, default_context
from transports.urls import plain_url, split_scheme

if TYPE_CHECKING:
    from transports.addresses import Address
    from transports.aio import protocols as aio_protocols
    from transports.protocols import Listener, StreamTransport
    from transports.tls.aio import TLSListener as AsyncTLSListener
    from transports.tls.aio import TLSTransport as AsyncTLSTransport

__all__ = ["AsyncTLSScheme", "TLSScheme"]


@attrs.frozen
class _TLSOpening:
    """What both faces of a TLS scheme share: the checks and the settings, before any I/O.

    The table's row (``transports._builtin_schemes``) holds the scheme's kind
    and description, and calls these factories with every URL of the scheme.
    """

    name: str

    def client(self, url: str, args: OpenArgs) -> tuple[str, OpenArgs, ssl.SSLContext, str | None]:
        """The plain URL, its settings, the context and the server name for ``connect(url)``."""
        plain = self._plain(url)
        context = default_context() if args.context is None else _checked(url, args.context)
        hostname = args.server_hostname
        if hostname is None:
            address = parse_address(url)
            if isinstance(address, InetAddress) and address.host:
                hostname = address.host
            elif context.check_hostname:
                raise ValueError(
                    f"connect({url!r}): a {self.name}:// URL names no host to check the server's certificate "
                    "against; pass server_hostname='the name in its certificate' (or a context with "
                    "check_hostname = False, to accept any name its CA signed)"
                )
        return plain, attrs.evolve(args, context=None, server_hostname=None), context, hostname

    def server(self, url: str, args: OpenArgs) -> tuple[str, OpenArgs, ssl.SSLContext]:
        """The plain URL, its settings and the context for ``listen(url)``."""
        plain = self._plain(url)
        if args.context is None:
            raise TypeError(
                f"listen({url!r}): a TLS listener needs a context holding its certificate and key: "
                "context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH); "
                "context.load_cert_chain('cert.pem', 'key.pem'); then pass context=context"
            )
        if args.server_hostname is not None:
            raise ValueError(
                f"listen({url!r}): server_hostname is what a client checks; a listener takes none"
            )
        return plain, attrs.evolve(args, context=None), args.context

    def refuse_bind(self, url: str, face: str) -> AddressError:
        """The error for ``bind(url)``: TLS needs a connection."""
        return AddressError(
            f"bind({url!r}): TLS runs over connections, not datagrams; use {face}.listen() to accept "
            f"TLS connections or {face}.connect() to make one"
        )

    def _plain(self, url: str) -> str:
        """The URL of the stream under *url*, once *url* is known to be well formed."""
        scheme = split_scheme(url)[0]
        if scheme != self.name:
            raise AddressError(f"{url!r} is not a {self.name}:// URL")
        parse_address(url)  # its errors name the TLS URL, not the plain one
        return plain_url(url)


def _checked(url: str, context: object) -> ssl.SSLContext:
    if not isinstance(context, ssl.SSLContext):
        raise TypeError(f"{url!r}: context must be an ssl.SSLContext, not {type(context).__name__}")
    return context


StreamT = TypeVar("StreamT", "StreamTransport", "aio_protocols.StreamTransport")


def _handshake_budget(stream: StreamT, deadline: Deadline) -> StreamT:
    """*stream*, its timeout set to what the connect left of the one budget, for the handshake."""
    if deadline.timeout:
        stream.timeout = max(deadline.left() or 0.0, 0.001)
    return stream


@attrs.frozen
class TLSScheme(_TLSOpening):
    """The sync factory of one TLS scheme: TLS over the plain stream the URL names (:apue:`16.4`, :apue:`16.5`)."""

    def connect(self, url: str, args: OpenArgs) -> TLSTransport:
        """Connect to the plain URL and run the handshake, both within ``args.timeout``."""
        plain, plain_args, context, hostname = self.client(url, args)
        deadline = Deadline(args.timeout)
        # The kind check of the lookup made it a stream.
        stream = cast("StreamTransport", lookup_kind(plain, Kind.STREAM).connect(plain, plain_args))
        tls = TLSTransport.wrap(_handshake_budget(stream, deadline), context, server_hostname=hostname)
        tls.timeout = args.timeout
        return tls

    def listen(self, url: str, args: OpenArgs) -> TLSListener[Address]:
        """Listen at the plain URL; each accepted connection runs its handshake on its first I/O."""
        plain, plain_args, context = self.server(url, args)
        listener = lookup_kind(plain, Kind.STREAM, "listen").listen(plain, plain_args)
        # The kind check above made it a listener of streams.
        return TLSListener(cast("Listener[StreamTransport, Address]", listener), context)

    def bind(self, url: str, args: OpenArgs) -> TLSTransport:
        """Refused: TLS runs over connections."""
        raise self.refuse_bind(url, "transports")


@attrs.frozen
class AsyncTLSScheme(_TLSOpening):
    """The async factory of one TLS scheme, for :mod:`transports.aio` (:apue:`16.4`, :apue:`16.8`, :apue:`14.4`)."""

    async def connect(self, url: str, args: OpenArgs) -> AsyncTLSTransport:
        """Connect to the plain URL and run the handshake, both within ``args.timeout``."""
        from transports.tls.aio import TLSTransport as AsyncTLS

        plain, plain_args, context, hostname = self.client(url, args)
        deadline = Deadline(args.timeout)
        opened = await lookup_async_kind(plain, Kind.STREAM, "aio.connect").connect(plain, plain_args)
        # The kind check of the lookup made it a stream.
        stream = cast("aio_protocols.StreamTransport", opened)
        tls = await AsyncTLS.wrap(_handshake_budget(stream, deadline), context, server_hostname=hostname)
        tls.timeout = args.timeout
        return tls

    async def listen(self, url: str, args: OpenArgs) -> AsyncTLSListener[Address]:
        """Listen at the plain URL; each accepted connection runs its handshake on its first I/O."""
        from transports.tls.aio import TLSListener as AsyncListener

        plain, plain_args, context = self.server(url, args)
        listener = await lookup_async_kind(plain, Kind.STREAM, "aio.listen").listen(plain, plain_args)
        # The kind check above made it a listener of streams.
        return AsyncListener(
            cast("aio_protocols.Listener[aio_protocols.StreamTransport, Address]", listener), context
        )

    async def bind(self, url: str, args: OpenArgs) -> AsyncTLSTransport:
        """Refused: TLS runs over connections."""
        raise self.refuse_bind(url, "aio")
