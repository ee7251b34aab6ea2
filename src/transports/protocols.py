"""The interfaces every transport satisfies (:apue:`16.2`, :apue:`16.5`).

These are :class:`typing.Protocol` classes only: they say what a transport
can do, not how. :class:`Transport` is the part every kind shares;
:class:`StreamTransport` adds what only a byte stream has (send everything,
read exactly *n* bytes, half-close); :class:`DatagramTransport` adds
addressed messages; :class:`Listener` accepts connections. All are
runtime-checkable, so ``isinstance(t, StreamTransport)`` narrows a transport
returned by :func:`transports.connect`. The members that never wait
(``closed``, ``timeout``, the addresses, ``fileno``, ``close``) come from
``transports._handles``, which the async protocols of
:mod:`transports.aio.protocols` inherit too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import IO, TYPE_CHECKING, Literal, Self, TypeAlias

# typing_extensions' Protocol: see transports._handles for why.
from typing_extensions import Protocol, TypeVar, runtime_checkable

from transports._compat import Buffer
from transports._compat import WritableBuffer as _WritableBuffer
from transports._handles import Endpoint, Handle, HasFileno
from transports.addresses import Address, Datagram, UnixAddress
from transports.flags import RecvFlags, SendFlags

if TYPE_CHECKING:
    from transports.credentials import Credentials
    from transports.fdpass import ReceivedFds

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
    "WritableBuffer",
]

#: What ``recv_into`` fills: a writable buffer (``bytearray``, a ``memoryview`` of
#: one, ``array.array``, ``mmap``, a NumPy array); a read-only one such as
#: ``bytes`` raises ``TypeError``. Spelled as :class:`~collections.abc.Buffer`,
#: as typeshed's ``WriteableBuffer`` is: no static type tells a read-only buffer
#: from a writable one, and a union of the writable builtins would refuse NumPy.
#: Every ``recv_into`` of ours, on both faces and in the test doubles, takes it.
WritableBuffer: TypeAlias = _WritableBuffer

#: Which direction :meth:`transports.StreamTransport.shutdown` closes.
ShutdownHow: TypeAlias = Literal["read", "write", "both"]

#: What ``sendfile`` reads from: a path, an open binary file, or a descriptor.
FileSource: TypeAlias = "str | os.PathLike[str] | IO[bytes] | int"
#: What ``recv_into_file`` writes to: a path (created or truncated), an open binary file, or a descriptor.
FileTarget: TypeAlias = "str | os.PathLike[str] | IO[bytes] | int"

#: Where ``send_to`` sends: an address, a ``(host, port)`` pair, or a URL or path.
Destination: TypeAlias = Address | tuple[str, int] | str
#: The descriptors ``send_fds`` passes: ints, or objects with ``fileno()`` (files, sockets, transports).
Fds: TypeAlias = Iterable[int | HasFileno]
#: Where ``send_fds`` sends on an unconnected socket; ``None``: to the connected peer.
FdDestination: TypeAlias = UnixAddress | str | os.PathLike[str] | None

T_co = TypeVar("T_co", covariant=True)
#: A listener's address type; ``Listener[T]`` alone means any :class:`Address`.
AddressT_co = TypeVar("AddressT_co", bound=Address, covariant=True, default=Address)


class _Scoped(Protocol):
    """``with obj:`` closes *obj* on the way out (:apue:`16.2`)."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


@runtime_checkable
class Transport(Endpoint, _Scoped, Protocol):
    """What every transport does: one socket, seen as a file descriptor (:apue:`16.2`).

    ``send`` returns how many bytes the kernel took (which on success means
    they were handed to the network stack, not that the peer received them,
    :apue:`16.5`); ``recv`` returns ``b""`` only at end of stream.
    """

    def send(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> int:
        """Send from *data*; return how many bytes the kernel took."""
        ...

    def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        """Receive up to *max_bytes*; ``b""`` means end of stream."""
        ...

    def recv_into(self, buffer: WritableBuffer, nbytes: int = 0, flags: RecvFlags = RecvFlags.NONE) -> int:
        """Receive into *buffer* (at most *nbytes*, or its size when 0); return the count."""
        ...


@runtime_checkable
class StreamTransport(Transport, Protocol):
    """A byte stream: no message boundaries, reliable, in order (:apue:`16.5`, :apue:`14.7`)."""

    def send_all(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> None:
        """Return only when all of *data* was handed to the kernel.

        On error or timeout the exception's ``bytes_sent`` says how much was.
        """
        ...

    def recv_exactly(self, n: int) -> bytes:
        """Return exactly *n* bytes; :class:`~transports.UnexpectedEOF` if the stream ends first."""
        ...

    def shutdown(self, how: ShutdownHow = "write") -> None:
        """Close one direction: ``"write"`` sends EOF to the peer (:apue:`16.2`)."""
        ...


@runtime_checkable
class SendfileCapable(StreamTransport, Protocol):
    """A stream that moves files without copying them through Python (sendfile(2) and splice(2)).

    sendfile is not in APUE: it extends :apue:`16.5`, :apue:`14.7`. TCP and Unix streams have it; seqpacket does not,
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
    """A Unix-domain transport: pass descriptors, learn the peer's identity (:apue:`17.3`, :apue:`17.4`).

    TCP and UDP transports do not have these methods: Linux would accept
    ``SCM_RIGHTS`` on them and silently drop the descriptors.
    """

    def send_fds(
        self, data: Buffer, fds: Fds, flags: SendFlags = SendFlags.NONE, *, address: FdDestination = None
    ) -> int:
        """Send *data* with copies of the descriptors *fds* (:apue:`17.4`)."""
        ...

    def recv_fds(self, max_bytes: int, max_fds: int, flags: RecvFlags = RecvFlags.NONE) -> ReceivedFds:
        """Receive data and up to *max_fds* close-on-exec descriptors (:apue:`17.4`)."""
        ...

    def peer_credentials(self, *, pidfd: bool = False) -> Credentials:
        """The peer's pid, uid and gid (:apue:`17.3`); with *pidfd*, a descriptor of the peer process too."""
        ...


@runtime_checkable
class DatagramTransport(Transport, Protocol):
    """Addressed messages with boundaries and no connection (:apue:`16.5`)."""

    @property
    def max_message_size(self) -> int:
        """The largest payload one ``send``/``send_to`` can carry."""
        ...

    def send_to(self, data: Buffer, address: Destination, flags: SendFlags = SendFlags.NONE) -> int:
        """Send one message to *address*; :class:`~transports.MessageTooLarge` if it cannot fit."""
        ...

    def recv_from(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> Datagram:
        """Receive one message with its sender; ``truncated`` says whether it was cut."""
        ...


@runtime_checkable
class Listener(Handle, _Scoped, Protocol[T_co, AddressT_co]):
    """A passive socket that accepts connections (:apue:`16.4`).

    Generic in what it accepts and in its address type:
    :class:`~transports.TCPListener` is a ``Listener[TCPTransport, InetAddress]``,
    so its ``address.port`` type-checks; ``Listener[T]`` has any :class:`Address`.
    """

    @property
    def address(self) -> AddressT_co:
        """The address connections arrive at (port 0 resolved to the real port)."""
        ...

    def accept(self) -> T_co:
        """Wait for the next connection and return it as a transport."""
        ...

    def __iter__(self) -> Iterator[T_co]:
        """Accept connections one after another until the listener is closed."""
        ...
