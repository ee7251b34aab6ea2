"""The async interfaces: :mod:`transports.protocols` with coroutines for the calls that wait (:apue:`16.5`, :apue:`16.8`).

The same names as the sync protocols. Whatever waits for the peer is a
coroutine (``send``, ``recv``, ``accept`` ...); whatever never waits stays a
plain method or property (``close``, ``fileno``, ``shutdown``, addresses,
``timeout``), inherited from the same base as the sync protocols
(``transports._handles``). Each coroutine's docstring is its sync twin's
(``transports._twins.docs_from``). Transports and listeners are async
context managers. Runtime checks look for ``__aenter__``, so a sync
transport is never taken for an async one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Self, TypeVar

from typing_extensions import Protocol, runtime_checkable

from transports import protocols as sync
from transports._compat import Buffer
from transports._handles import Endpoint, Handle
from transports._twins import docs_from
from transports.addresses import Datagram
from transports.flags import RecvFlags, SendFlags
from transports.protocols import (
    AddressT_co,
    Destination,
    FdDestination,
    Fds,
    FileSource,
    FileTarget,
    ShutdownHow,
    WritableBuffer,
)

if TYPE_CHECKING:
    from transports._core.serving import Served
    from transports.credentials import Credentials
    from transports.fdpass import ReceivedFds

__all__ = ["DatagramTransport", "FdPassing", "Listener", "SendfileCapable", "StreamTransport", "Transport"]

T_co = TypeVar("T_co", covariant=True)


class _Scoped(Protocol):
    """``async with obj:`` closes *obj* on the way out (:apue:`16.2`)."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


@runtime_checkable
@docs_from(sync.Transport)
class Transport(Endpoint, _Scoped, Protocol):
    """What every async transport does (:apue:`16.2`, :apue:`16.5`, :apue:`16.8`, :apue:`14.4`)."""

    async def send(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> int: ...

    async def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes: ...

    async def recv_into(
        self, buffer: WritableBuffer, nbytes: int = 0, flags: RecvFlags = RecvFlags.NONE
    ) -> int: ...


@runtime_checkable
@docs_from(sync.StreamTransport)
class StreamTransport(Transport, Protocol):
    """An async byte stream (:apue:`16.5`, :apue:`14.7`, :apue:`16.8`, :apue:`14.4`)."""

    @property
    def last_bytes_sent(self) -> int | None:
        """Bytes the latest ``send_all``/``sendfile`` handed to the kernel, however it ended."""
        ...

    async def send_all(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> None: ...

    async def recv_exactly(self, n: int) -> bytes: ...

    def shutdown(self, how: ShutdownHow = "write") -> None: ...


@runtime_checkable
@docs_from(sync.SendfileCapable)
class SendfileCapable(StreamTransport, Protocol):
    """An async stream that moves files without copying them through Python (:apue:`16.5`, :apue:`14.7`, :apue:`16.8`, :apue:`14.4`; sendfile(2))."""

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
    ) -> int: ...

    async def recv_into_file(
        self,
        file: FileTarget,
        count: int | None = None,
        *,
        fallback: bool = True,
        progress: Callable[[int], None] | None = None,
    ) -> int: ...


@runtime_checkable
@docs_from(sync.FdPassing)
class FdPassing(Transport, Protocol):
    """An async Unix-domain transport: pass descriptors, learn the peer (:apue:`17.3`, :apue:`17.4`, :apue:`16.8`, :apue:`14.4`)."""

    async def send_fds(
        self, data: Buffer, fds: Fds, flags: SendFlags = SendFlags.NONE, *, address: FdDestination = None
    ) -> int: ...

    async def recv_fds(
        self, max_bytes: int, max_fds: int, flags: RecvFlags = RecvFlags.NONE
    ) -> ReceivedFds: ...

    def peer_credentials(self, *, pidfd: bool = False) -> Credentials: ...


@runtime_checkable
@docs_from(sync.DatagramTransport)
class DatagramTransport(Transport, Protocol):
    """Async addressed messages with boundaries and no connection (:apue:`16.5`, :apue:`16.8`, :apue:`14.4`)."""

    @property
    def max_message_size(self) -> int: ...

    async def send_to(self, data: Buffer, address: Destination, flags: SendFlags = SendFlags.NONE) -> int: ...

    async def recv_from(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> Datagram: ...


@runtime_checkable
@docs_from(sync.Listener)
class Listener(Handle, _Scoped, Protocol[T_co, AddressT_co]):
    """An async passive socket that accepts connections (:apue:`16.4`, :apue:`16.8`, :apue:`14.4`)."""

    @property
    def address(self) -> AddressT_co: ...

    async def accept(self) -> T_co: ...

    def __aiter__(self) -> Listener[T_co, AddressT_co]:
        """Accept connections one after another until the listener is closed."""
        ...

    async def __anext__(self) -> T_co:
        """The next connection; iteration stops when the listener is closed."""
        ...

    async def serve(
        self,
        handler: Callable[[T_co], Awaitable[object]],
        *,
        grace: float | None = None,
        max_connections: int | None = None,
    ) -> Served:
        """Run ``handler(conn)`` in a task per connection until the listener is closed.

        ``close()`` stops accepting and wakes idle handlers; after *grace*
        seconds the rest are cancelled and cut, and the result lists them.
        """
        ...
