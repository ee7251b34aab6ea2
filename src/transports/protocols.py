"""The interfaces every transport satisfies (APUE 16.2 Socket Descriptors, 16.5 Data Transfer).

These are :class:`typing.Protocol` classes only: they say what a transport
can do, not how. :class:`Transport` is the part every kind shares;
:class:`StreamTransport` adds what only a byte stream has (send everything,
read exactly *n* bytes, half-close); :class:`DatagramTransport` adds
addressed messages; :class:`Listener` accepts connections. All are
runtime-checkable, so ``isinstance(t, StreamTransport)`` narrows a transport
returned by :func:`transports.connect`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import IO, TYPE_CHECKING, Literal, Self, TypeAlias, TypeVar

# typing_extensions' Protocol has Python 3.12's isinstance(): it looks members
# up statically instead of calling properties, so checking a closed transport
# does not raise and checking a live one makes no getsockname() calls.
from typing_extensions import Protocol, runtime_checkable

from transports._compat import Buffer
from transports.addresses import Address, Datagram, UnixAddress
from transports.flags import RecvFlags, SendFlags
from transports.kinds import Kind

if TYPE_CHECKING:
    from transports.fdpass import Credentials, ReceivedFds

__all__ = [
    "DatagramTransport",
    "FdPassing",
    "FileSource",
    "FileTarget",
    "Listener",
    "SendfileCapable",
    "ShutdownHow",
    "StreamTransport",
    "Transport",
]

#: Which direction :meth:`StreamTransport.shutdown` closes.
ShutdownHow: TypeAlias = Literal["read", "write", "both"]

#: What ``sendfile`` reads from: a path, an open binary file, or a descriptor.
FileSource: TypeAlias = "str | os.PathLike[str] | IO[bytes] | int"
#: What ``recv_into_file`` writes to: a path (created or truncated), an open binary file, or a descriptor.
FileTarget: TypeAlias = "str | os.PathLike[str] | IO[bytes] | int"

T_co = TypeVar("T_co", covariant=True)


class _HasFileno(Protocol):
    def fileno(self) -> int: ...


@runtime_checkable
class Transport(Protocol):
    """What every transport does: one socket, seen as a file descriptor (APUE 16.2 Socket Descriptors).

    ``send`` returns how many bytes the kernel took (which on success means
    they were handed to the network stack, not that the peer received them,
    APUE 16.5 Data Transfer); ``recv`` returns ``b""`` only at end of stream.
    """

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
        """Seconds a blocking call may wait; ``None`` waits forever, ``0`` never waits."""
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

    def send(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> int:
        """Send from *data*; return how many bytes the kernel took."""
        ...

    def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        """Receive up to *max_bytes*; ``b""`` means end of stream."""
        ...

    def recv_into(self, buffer: Buffer, nbytes: int = 0, flags: RecvFlags = RecvFlags.NONE) -> int:
        """Receive into *buffer* (at most *nbytes*, or its size when 0); return the count."""
        ...

    def fileno(self) -> int:
        """The socket's file descriptor (-1 once closed)."""
        ...

    def close(self) -> None:
        """Close the socket; closing again does nothing."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


@runtime_checkable
class StreamTransport(Transport, Protocol):
    """A byte stream: no message boundaries, reliable, in order (APUE 16.5 Data Transfer, 14.7 readn and writen)."""

    def send_all(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> None:
        """Return only when all of *data* was handed to the kernel.

        On error or timeout the exception's ``bytes_sent`` says how much was.
        """
        ...

    def recv_exactly(self, n: int) -> bytes:
        """Return exactly *n* bytes; :class:`~transports.errors.UnexpectedEOF` if the stream ends first."""
        ...

    def shutdown(self, how: ShutdownHow = "write") -> None:
        """Close one direction: ``"write"`` sends EOF to the peer (APUE 16.2 Socket Descriptors)."""
        ...


@runtime_checkable
class SendfileCapable(StreamTransport, Protocol):
    """A stream that moves files without copying them through Python (sendfile(2) and splice(2)).

    sendfile is not in APUE: it extends APUE 16.5 Data Transfer and 14.7
    readn and writen. TCP and Unix streams have it; seqpacket does not,
    because Linux would split a file into 64 KiB messages.
    """

    def sendfile(
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

    def recv_into_file(
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
    """A Unix-domain transport: pass descriptors, learn the peer's identity (APUE 17.3, 17.4).

    TCP and UDP transports do not have these methods: Linux would accept
    ``SCM_RIGHTS`` on them and silently drop the descriptors.
    """

    def send_fds(
        self,
        data: Buffer,
        fds: Iterable[int | _HasFileno],
        flags: SendFlags = SendFlags.NONE,
        *,
        address: UnixAddress | str | os.PathLike[str] | None = None,
    ) -> int:
        """Send *data* with copies of the descriptors *fds* (APUE 17.4 Passing File Descriptors)."""
        ...

    def recv_fds(self, max_bytes: int, max_fds: int, flags: RecvFlags = RecvFlags.NONE) -> ReceivedFds:
        """Receive data and up to *max_fds* close-on-exec descriptors (APUE 17.4)."""
        ...

    def peer_credentials(self) -> Credentials:
        """The peer's pid, uid and gid (APUE 17.3 Unique Connections)."""
        ...


@runtime_checkable
class DatagramTransport(Transport, Protocol):
    """Addressed messages with boundaries and no connection (APUE 16.5 Data Transfer)."""

    @property
    def max_message_size(self) -> int:
        """The largest payload one ``send``/``send_to`` can carry."""
        ...

    def send_to(
        self,
        data: Buffer,
        address: Address | tuple[str, int] | str,
        flags: SendFlags = SendFlags.NONE,
    ) -> int:
        """Send one message to *address*; :class:`~transports.errors.MessageTooLarge` if it cannot fit."""
        ...

    def recv_from(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> Datagram:
        """Receive one message with its sender; ``truncated`` says whether it was cut."""
        ...


@runtime_checkable
class Listener(Protocol[T_co]):
    """A passive socket that accepts connections (APUE 16.4 Connection Establishment)."""

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

    def accept(self) -> T_co:
        """Wait for the next connection and return it as a transport."""
        ...

    def __iter__(self) -> Iterator[T_co]:
        """Accept connections one after another until the listener is closed."""
        ...

    def fileno(self) -> int:
        """The listening socket's file descriptor."""
        ...

    def close(self) -> None:
        """Stop listening; a thread blocked in :meth:`accept` wakes up."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
