"""The async interfaces: :mod:`transports.protocols` with coroutines for the calls that wait (APUE 16.5, 16.8).

The same names as the sync protocols. Whatever waits for the peer is a
coroutine (``send``, ``recv``, ``accept`` ...); whatever never waits stays a
plain method or property (``close``, ``fileno``, ``shutdown``, addresses,
``timeout``). Transports and listeners are async context managers. Runtime
checks look for ``__aenter__``, so a sync transport is never taken for an
async one.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Self, TypeVar

from typing_extensions import Protocol, runtime_checkable

from transports._compat import Buffer
from transports.addresses import Address, Datagram, UnixAddress
from transports.flags import RecvFlags, SendFlags
from transports.kinds import Kind
from transports.protocols import FileSource, FileTarget, ShutdownHow, _HasFileno

if TYPE_CHECKING:
    from transports.fdpass import Credentials, ReceivedFds

__all__ = ["DatagramTransport", "FdPassing", "Listener", "SendfileCapable", "StreamTransport", "Transport"]

T_co = TypeVar("T_co", covariant=True)


@runtime_checkable
class Transport(Protocol):
    """What every async transport does (APUE 16.2, 16.5 Data Transfer, 16.8 Nonblocking I/O, 14.4 I/O Multiplexing)."""

    @property
    def kind(self) -> Kind:
        """Stream, datagram or seqpacket."""
        ...

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        ...

    @property
    def timeout(self) -> float | None:
        """Seconds one call may wait; ``None`` waits forever, ``0`` never waits."""
        ...

    @timeout.setter
    def timeout(self, value: float | None) -> None: ...

    @property
    def local_address(self) -> Address:
        """The address this end is bound to (``getsockname``)."""
        ...

    @property
    def remote_address(self) -> Address | None:
        """The peer's address (``getpeername``), or ``None`` when not connected."""
        ...

    async def send(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> int:
        """Send from *data*; return how many bytes the kernel took."""
        ...

    async def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        """Receive up to *max_bytes*; ``b""`` means end of stream."""
        ...

    async def recv_into(self, buffer: Buffer, nbytes: int = 0, flags: RecvFlags = RecvFlags.NONE) -> int:
        """Receive into *buffer* (at most *nbytes*, or its size when 0); return the count."""
        ...

    def fileno(self) -> int:
        """The socket's file descriptor (-1 once closed)."""
        ...

    def close(self) -> None:
        """Close the socket; closing again does nothing."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


@runtime_checkable
class StreamTransport(Transport, Protocol):
    """An async byte stream (APUE 16.5 Data Transfer, 14.7 readn and writen, 16.8, 14.4)."""

    @property
    def last_bytes_sent(self) -> int | None:
        """Bytes the latest ``send_all``/``sendfile`` handed to the kernel, however it ended."""
        ...

    async def send_all(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> None:
        """Return only when all of *data* was handed to the kernel."""
        ...

    async def recv_exactly(self, n: int) -> bytes:
        """Return exactly *n* bytes; :class:`~transports.errors.UnexpectedEOF` if the stream ends first."""
        ...

    def shutdown(self, how: ShutdownHow = "write") -> None:
        """Close one direction: ``"write"`` sends EOF to the peer (APUE 16.2 Socket Descriptors)."""
        ...


@runtime_checkable
class SendfileCapable(StreamTransport, Protocol):
    """An async stream that moves files without copying them through Python (APUE 16.5, 14.7, 16.8, 14.4; sendfile(2))."""

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
        """Send part or all of *file*; return the number of file bytes sent."""
        ...

    async def recv_into_file(
        self,
        file: FileTarget,
        count: int | None = None,
        *,
        fallback: bool = True,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Receive straight into *file*; return the number of bytes written."""
        ...


@runtime_checkable
class FdPassing(Transport, Protocol):
    """An async Unix-domain transport: pass descriptors, learn the peer (APUE 17.3, 17.4, 16.8, 14.4)."""

    async def send_fds(
        self,
        data: Buffer,
        fds: Iterable[int | _HasFileno],
        flags: SendFlags = SendFlags.NONE,
        *,
        address: UnixAddress | str | os.PathLike[str] | None = None,
    ) -> int:
        """Send *data* with copies of the descriptors *fds* (APUE 17.4)."""
        ...

    async def recv_fds(self, max_bytes: int, max_fds: int, flags: RecvFlags = RecvFlags.NONE) -> ReceivedFds:
        """Receive data and up to *max_fds* close-on-exec descriptors (APUE 17.4)."""
        ...

    def peer_credentials(self) -> Credentials:
        """The peer's pid, uid and gid (APUE 17.3 Unique Connections)."""
        ...


@runtime_checkable
class DatagramTransport(Transport, Protocol):
    """Async addressed messages with boundaries and no connection (APUE 16.5 Data Transfer, 16.8, 14.4)."""

    @property
    def max_message_size(self) -> int:
        """The largest payload one ``send``/``send_to`` can carry."""
        ...

    async def send_to(
        self,
        data: Buffer,
        address: Address | tuple[str, int] | str,
        flags: SendFlags = SendFlags.NONE,
    ) -> int:
        """Send one message to *address*; :class:`~transports.errors.MessageTooLarge` if it cannot fit."""
        ...

    async def recv_from(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> Datagram:
        """Receive one message with its sender; ``truncated`` says whether it was cut."""
        ...


@runtime_checkable
class Listener(Protocol[T_co]):
    """An async passive socket that accepts connections (APUE 16.4 Connection Establishment, 16.8, 14.4)."""

    @property
    def address(self) -> Address:
        """The address connections arrive at (port 0 resolved to the real port)."""
        ...

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        ...

    @property
    def timeout(self) -> float | None:
        """Seconds :meth:`accept` may wait; ``None`` waits forever."""
        ...

    @timeout.setter
    def timeout(self, value: float | None) -> None: ...

    async def accept(self) -> T_co:
        """Wait for the next connection and return it as a transport."""
        ...

    def __aiter__(self) -> Listener[T_co]:
        """Accept connections one after another until the listener is closed."""
        ...

    async def __anext__(self) -> T_co:
        """The next connection; iteration stops when the listener is closed."""
        ...

    async def serve(self, handler: Callable[[T_co], Awaitable[object]]) -> None:
        """Run ``handler(conn)`` in a task per connection until the listener is closed."""
        ...

    def fileno(self) -> int:
        """The listening socket's file descriptor."""
        ...

    def close(self) -> None:
        """Stop listening; a task waiting in :meth:`accept` wakes up."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
