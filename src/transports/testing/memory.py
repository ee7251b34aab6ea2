"""In-memory transports for unit tests: ``memory://name`` and ``memorygram://name``.

They behave like a Unix stream and a Unix datagram socket inside one
process, with no descriptors and no kernel: bounded buffers (a full one
blocks the sender, or raises :class:`~transports.WouldBlock` with
``SendFlags.DONTWAIT``), end of stream, half-close, ``PEEK``, ``WAITALL``,
timeouts, truncation reported rather than silent, and the same errors as
the socket transports. ``close()`` from another thread wakes every call
blocked on that end with :class:`~transports.TransportClosed`, and a
receive takes memory as the bytes come, whatever size it is asked for.
They model the socket semantics of :apue:`16.5`, :apue:`17.2`, so code written against the
:class:`~transports.Transport` protocols can be tested without
the network.

This module holds the sync stream transport and its listener;
:class:`~transports.MemoryDatagramTransport` lives in
:mod:`transports.testing.memorygram`, and the async twins of all three in
:mod:`transports.testing.aio_memory`. Both faces are one implementation
(``transports.testing._memstream``) driven two ways, and share the names: a
sync client reaches an async listener of the same name and the other way
round, which lets a test drive an asyncio server from a plain thread.

>>> import transports
>>> with transports.listen("memory://doc-example") as listener:
...     with transports.connect("memory://doc-example", timeout=5) as client:
...         with listener.accept() as server:
...             client.send_all(b"ping")
...             server.recv_exactly(4)
b'ping'
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple, Protocol

from transports._closing import CloseOnExit
from transports._compat import Buffer, WritableBuffer
from transports.errors import AddressError, TransportClosed
from transports.flags import RecvFlags, SendFlags
from transports.kinds import Kind
from transports.testing._memgram import DatagramCore
from transports.testing._memory import CAPACITY, name_of, run
from transports.testing._memstream import ListenerCore, StreamCore, connect_stream
from transports.testing.memorygram import MemoryDatagramTransport

__all__ = [
    "DEFAULT_CAPACITY",
    "MemoryListener",
    "MemoryStreamTransport",
]

#: Bytes a memory stream direction or a datagram endpoint buffers before senders wait.
DEFAULT_CAPACITY = CAPACITY


class MemoryStreamTransport(StreamCore, CloseOnExit):
    """One end of an in-memory byte stream (:apue:`16.5`, :apue:`17.2`).

    Made by :meth:`pair`, by ``transports.connect("memory://name")`` to a
    :class:`MemoryListener` (of either face), or by that listener's
    ``accept``. Each direction buffers up to ``capacity`` bytes.
    """

    def send(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> int:
        """Copy what fits of *data* into the peer's buffer; return the count (waits for room)."""
        return run(self, self._send_op(data, flags))

    def send_all(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> None:
        """Return once all of *data* is buffered for the peer (:apue:`14.7`); errors carry ``bytes_sent``.

        The timeout covers the whole call.
        """
        run(self, self._send_all_op(data, flags))

    def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        """Take up to *max_bytes*; ``b""`` at end of stream (:apue:`16.5`).

        Memory grows with the bytes taken, never with *max_bytes*:
        ``recv(2**40)`` returns what is buffered (with ``RecvFlags.WAITALL``,
        what arrives until that many came or the stream ended).
        """
        return run(self, self._recv_op(max_bytes, flags))

    def recv_into(self, buffer: WritableBuffer, nbytes: int = 0, flags: RecvFlags = RecvFlags.NONE) -> int:
        """Take up to *nbytes* (the buffer's size when 0) into *buffer*; 0 at end of stream."""
        return run(self, self._recv_into_op(buffer, nbytes, flags))

    def recv_exactly(self, n: int) -> bytes:
        """Exactly *n* bytes, or :class:`~transports.UnexpectedEOF` with the partial data (:apue:`14.7`).

        The result grows as the bytes arrive: asking for 256 MiB when the peer
        sends 3 bytes and ends the stream holds 3 bytes, not 256 MiB. The
        timeout covers the whole call; an error carries the bytes taken so
        far in ``partial``.
        """
        return run(self, self._recv_exactly_op(n))


class MemoryListener(ListenerCore, CloseOnExit):
    """Accepts ``memory://name`` connections (:apue:`16.4`).

    ``backlog`` connections may wait to be accepted; more make ``connect``
    fail with :class:`~transports.ConnectionRefused`, as a full Unix
    listener does. Clients of either face may connect.
    """

    _accepts = MemoryStreamTransport

    def accept(self) -> MemoryStreamTransport:
        """Wait for the next connection (:apue:`16.4`); TransportClosed once the listener is closed."""
        conn = run(self, self._accept_op())
        assert isinstance(conn, MemoryStreamTransport)
        return conn

    def __iter__(self) -> Iterator[MemoryStreamTransport]:
        """Accept connections until the listener is closed."""
        while True:
            try:
                yield self.accept()
            except TransportClosed:
                return


class OpenArgsLike(Protocol):
    """What the memory schemes read of :class:`transports.OpenArgs` (:apue:`16.4`).

    Typed here rather than imported: the registry imports this module when a
    ``memory://`` URL is first opened, and this module does not import it back.
    """

    @property
    def timeout(self) -> float | None: ...

    @property
    def backlog(self) -> int: ...


class MemoryClasses(NamedTuple):
    """The classes one face opens ``memory://`` and ``memorygram://`` URLs with, and its name in messages (:apue:`16.4`)."""

    stream: type[StreamCore]
    listener: type[ListenerCore]
    datagram: type[DatagramCore]
    face: str


class MemoryScheme:
    """The registry entries for ``memory://`` and ``memorygram://``: the sync face's, or *classes*' face's (:apue:`16.4`).

    Opening never waits, so the async face's factory
    (:class:`transports.testing.aio_memory.AsyncMemoryScheme`) calls this one.
    """

    def __init__(self, kind: Kind, classes: MemoryClasses | None = None) -> None:
        self.kind = kind
        self.description = "in-memory stream (tests)" if kind is Kind.STREAM else "in-memory datagram (tests)"
        self._scheme = "memory" if kind is Kind.STREAM else "memorygram"
        self._classes = classes or SYNC_CLASSES

    def connect(self, url: str, args: OpenArgsLike) -> Any:
        name = name_of(url, self._scheme)
        if self.kind is Kind.STREAM:
            return connect_stream(name, self._classes.stream, args.timeout)
        endpoint = self._classes.datagram._connected(name, CAPACITY)
        endpoint.timeout = args.timeout
        return endpoint

    def listen(self, url: str, args: OpenArgsLike) -> Any:
        if self.kind is not Kind.STREAM:
            raise AddressError(
                f"listen({url!r}): memorygram is datagram; use {self._classes.face}.bind() instead"
            )
        listener = self._classes.listener(name_of(url, "memory"), backlog=args.backlog)
        listener.timeout = args.timeout
        return listener

    def bind(self, url: str, args: OpenArgsLike) -> Any:
        if self.kind is Kind.STREAM:
            raise AddressError(
                f"bind({url!r}): memory is a stream; use {self._classes.face}.listen() instead"
            )
        name = url.split("://", 1)[1] if "://" in url else ""
        endpoint = self._classes.datagram(name or None)
        endpoint.timeout = args.timeout
        return endpoint


#: The sync face's memory classes.
SYNC_CLASSES = MemoryClasses(MemoryStreamTransport, MemoryListener, MemoryDatagramTransport, "transports")
