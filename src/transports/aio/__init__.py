"""transports.aio: the async twin of typed-transports, on asyncio and uvloop (:apue:`16.8`, :apue:`14.4`).

The same names as the sync package -- :func:`connect`, :func:`listen`,
:func:`bind`, :func:`socketpair` and one class per kind -- with coroutines
for every call that waits for the peer. Flags, errors, addresses and options
are the sync package's own: each async transport wraps one sync transport
in non-blocking mode and makes its calls, letting the event loop wait
whenever the kernel answers EAGAIN.

>>> import asyncio
>>> from transports import aio
>>> async def main():
...     a, b = aio.socketpair("seqpacket")
...     async with a, b:
...         await a.send(b"one")
...         await a.send(b"two")
...         return [await b.recv(100), await b.recv(100)]
>>> asyncio.run(main())
[b'one', b'two']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, overload

from transports import TLSContextArg as _TLSContextArg
from transports._core.notify import notify_async
from transports._lazy import lazy_names
from transports._twins import KindName, pair_kind
from transports.aio.protocols import (
    DatagramTransport,
    FdPassing,
    Listener,
    SendfileCapable,
    StreamTransport,
    Transport,
)
from transports.aio.tcp import TCPListener, TCPTransport
from transports.aio.udp import UDPTransport
from transports.aio.unix import (
    UnixDatagramTransport,
    UnixListener,
    UnixSeqpacketListener,
    UnixSeqpacketTransport,
    UnixStreamTransport,
)
from transports.kinds import Kind
from transports.options import OptionSetting
from transports.protocols import Fds
from transports.registry import OpenArgs, lookup_async_kind

if TYPE_CHECKING:
    from transports.framing.aio import LineStream, MessageStream
    from transports.tls.aio import TLSListener, TLSTransport

__all__ = [
    "DatagramTransport",
    "FdPassing",
    "LineStream",
    "Listener",
    "MessageStream",
    "SendfileCapable",
    "StreamTransport",
    "TCPListener",
    "TCPTransport",
    "TLSListener",
    "TLSTransport",
    "Transport",
    "UDPTransport",
    "UnixDatagramTransport",
    "UnixListener",
    "UnixSeqpacketListener",
    "UnixSeqpacketTransport",
    "UnixStreamTransport",
    "bind",
    "connect",
    "listen",
    "notify",
    "socketpair",
]

# Framing loads on first use, so that importing transports.aio stays as light as it was.
_LAZY = {
    "LineStream": "transports.framing.aio",
    "MessageStream": "transports.framing.aio",
    "TLSListener": "transports.tls.aio",
    "TLSTransport": "transports.tls.aio",
}
__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())


#: The ``kind=`` argument of the URL entry points: a :class:`Kind`, its name, or None for any.
KindArg: TypeAlias = "Kind | KindName | None"

#: The ``context=`` argument of the URL entry points: the sync package's (no :mod:`ssl` at import).
TLSContextArg: TypeAlias = _TLSContextArg


@overload
async def connect(
    url: str,
    *,
    kind: Literal[Kind.STREAM, "stream"],
    timeout: float | None = None,
    options: Iterable[OptionSetting[Any]] = (),
    context: TLSContextArg = None,
    server_hostname: str | None = None,
) -> StreamTransport: ...
@overload
async def connect(
    url: str,
    *,
    kind: Literal[Kind.DATAGRAM, "datagram"],
    timeout: float | None = None,
    options: Iterable[OptionSetting[Any]] = (),
    context: TLSContextArg = None,
    server_hostname: str | None = None,
) -> DatagramTransport: ...
@overload
async def connect(
    url: str,
    *,
    kind: KindArg = None,
    timeout: float | None = None,
    options: Iterable[OptionSetting[Any]] = (),
    context: TLSContextArg = None,
    server_hostname: str | None = None,
) -> Transport: ...
async def connect(
    url: str,
    *,
    kind: KindArg = None,
    timeout: float | None = None,
    options: Iterable[OptionSetting[Any]] = (),
    context: TLSContextArg = None,
    server_hostname: str | None = None,
) -> Transport:
    """Connect to the address in *url* (:apue:`16.4`, :apue:`16.8`, :apue:`14.4`).

    The async :func:`transports.connect`, through the same scheme table
    (:mod:`transports.registry`): the built-in socket schemes, and every
    registered or plugin scheme with an async factory. ``kind="stream"`` or
    ``"datagram"`` types the result as :class:`StreamTransport` or
    :class:`DatagramTransport` and refuses a URL of another kind. TLS URLs
    take *context* and *server_hostname* as :func:`transports.connect` does
    and give a :class:`TLSTransport`.
    """
    args = OpenArgs(timeout=timeout, options=tuple(options), context=context, server_hostname=server_hostname)
    return await lookup_async_kind(url, kind, "aio.connect", args).connect(url, args)


@overload
async def listen(
    url: str,
    *,
    kind: Literal[Kind.STREAM, "stream"],
    backlog: int = 128,
    mode: int | None = 0o600,
    timeout: float | None = None,
    options: Iterable[OptionSetting[Any]] = (),
    context: TLSContextArg = None,
) -> Listener[StreamTransport]: ...
@overload
async def listen(
    url: str,
    *,
    kind: KindArg = None,
    backlog: int = 128,
    mode: int | None = 0o600,
    timeout: float | None = None,
    options: Iterable[OptionSetting[Any]] = (),
    context: TLSContextArg = None,
) -> Listener[Transport]: ...
async def listen(
    url: str,
    *,
    kind: KindArg = None,
    backlog: int = 128,
    mode: int | None = 0o600,
    timeout: float | None = None,
    options: Iterable[OptionSetting[Any]] = (),
    context: TLSContextArg = None,
) -> Listener[Transport]:
    """Listen for connections at *url* (:apue:`16.4`, :apue:`16.8`, :apue:`14.4`).

    The async :func:`transports.listen`: ``tcp://:8080`` listens on every
    local address, port 0 picks a free port; for Unix schemes *mode* is the
    socket file's permission bits (:apue:`17.3`). ``kind="stream"`` types
    the accepted connections as :class:`StreamTransport`. TLS URLs need
    *context* (a server context with its certificate) and give a
    :class:`TLSListener`.
    """
    args = OpenArgs(timeout=timeout, options=tuple(options), backlog=backlog, mode=mode, context=context)
    return await lookup_async_kind(url, kind, "aio.listen", args).listen(url, args)


@overload
async def bind(
    url: str,
    *,
    kind: Literal[Kind.DATAGRAM, "datagram"],
    mode: int | None = 0o600,
    timeout: float | None = None,
    options: Iterable[OptionSetting[Any]] = (),
) -> DatagramTransport: ...
@overload
async def bind(
    url: str,
    *,
    kind: KindArg = None,
    mode: int | None = 0o600,
    timeout: float | None = None,
    options: Iterable[OptionSetting[Any]] = (),
) -> Transport: ...
async def bind(
    url: str,
    *,
    kind: KindArg = None,
    mode: int | None = 0o600,
    timeout: float | None = None,
    options: Iterable[OptionSetting[Any]] = (),
) -> Transport:
    """Bind a datagram transport to *url* (``udp://``, ``unixgram://``) (:apue:`16.3.4`, :apue:`16.8`, :apue:`14.4`).

    ``unixgram:`` with no path autobinds an abstract name on Linux.
    ``kind="datagram"`` types the result as :class:`DatagramTransport` and
    refuses a URL of another kind with :class:`~transports.AddressError`.
    """
    factory = lookup_async_kind(url, kind, "aio.bind")
    return await factory.bind(url, OpenArgs(timeout=timeout, options=tuple(options), mode=mode))


#: What ``socketpair`` makes for each kind.
_PAIRS: dict[Kind, Callable[[], tuple[Transport, Transport]]] = {
    Kind.STREAM: UnixStreamTransport.pair,
    Kind.DATAGRAM: UnixDatagramTransport.pair,
    Kind.SEQPACKET: UnixSeqpacketTransport.pair,
}


@overload
def socketpair(
    kind: Literal[Kind.STREAM, "stream"] = ...,
) -> tuple[UnixStreamTransport, UnixStreamTransport]: ...
@overload
def socketpair(
    kind: Literal[Kind.DATAGRAM, "datagram"],
) -> tuple[UnixDatagramTransport, UnixDatagramTransport]: ...
@overload
def socketpair(
    kind: Literal[Kind.SEQPACKET, "seqpacket"],
) -> tuple[UnixSeqpacketTransport, UnixSeqpacketTransport]: ...
@overload
def socketpair(kind: Kind | KindName) -> tuple[Transport, Transport]: ...
def socketpair(kind: Kind | KindName = Kind.STREAM) -> tuple[Transport, Transport]:
    """Two connected async Unix-domain transports of *kind* (:apue:`17.2`, :apue:`16.8`, :apue:`14.4`).

    A ``socketpair`` never waits, so this is a plain function, usable
    before the event loop runs (to hand one end to a child process, say).
    """
    return _PAIRS[pair_kind(kind)]()


async def notify(state: str, *, fds: Fds = ()) -> bool:
    """Tell the service manager *state* (``"READY=1"`` ...) (:apue:`17.2`, :apue:`17.4`, :apue:`16.8`, :apue:`14.4`).

    The async :func:`transports.notify`: the same checks of *state* and
    *fds*, the same datagram to ``$NOTIFY_SOCKET`` over an async
    :class:`UnixDatagramTransport`, the send waited on by the event loop.
    False, sending nothing, when ``NOTIFY_SOCKET`` is unset.
    """
    return await notify_async(state, fds=fds)
