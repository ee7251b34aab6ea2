"""In-memory transports for unit tests: ``memory://name`` and ``memorygram://name``.

They behave like a Unix stream and a Unix datagram socket inside one
process, with no descriptors and no kernel: bounded buffers (a full one
blocks the sender, or raises :class:`~transports.errors.WouldBlock` with
``SendFlags.DONTWAIT``), end of stream, half-close, ``PEEK``, ``WAITALL``,
timeouts, truncation reported rather than silent, and the same errors as
the socket transports. ``close()`` from another thread wakes every call
blocked on that end with :class:`~transports.errors.TransportClosed`, and a
receive takes memory as the bytes come, whatever size it is asked for.
They model the socket semantics of :apue:`16.5`, :apue:`17.2`, so code written against the
:class:`~transports.protocols.Transport` protocols can be tested without
the network.

This module holds the stream transport and its listener;
:class:`~transports.testing.memorygram.MemoryDatagramTransport` lives in
:mod:`transports.testing.memorygram`, and both share the buffers of
``transports.testing._memory``.

>>> import transports
>>> with transports.listen("memory://doc-example") as listener:
...     with transports.connect("memory://doc-example", timeout=5) as client:
...         with listener.accept() as server:
...             client.send_all(b"ping")
...             server.recv_exactly(4)
b'ping'
"""

from __future__ import annotations

import collections
import errno
import itertools
import threading
from collections.abc import Iterator
from typing import Protocol, Self

from transports._compat import Buffer
from transports._core.deadline import Deadline
from transports._core.validate import check_size
from transports.addresses import Address, NamedAddress
from transports.errors import (
    AddressError,
    BrokenPipe,
    ConnectionRefused,
    TransportClosed,
    TransportError,
    UnexpectedEOF,
)
from transports.flags import RecvFlags, SendFlags, allowed_masks, check_flags
from transports.kinds import Kind
from transports.protocols import ShutdownHow
from transports.testing._memory import (
    CAPACITY,
    Collected,
    Direction,
    Filled,
    MemoryBase,
    Names,
    Sink,
    failure,
    name_of,
)
from transports.testing.memorygram import MemoryDatagramTransport

__all__ = [
    "DEFAULT_CAPACITY",
    "MemoryListener",
    "MemoryStreamTransport",
]

#: Bytes a memory stream direction or a datagram endpoint buffers before senders wait.
DEFAULT_CAPACITY = CAPACITY

_listeners: Names[MemoryListener] = Names("memory", "memory listener")


class MemoryStreamTransport(MemoryBase):
    """One end of an in-memory byte stream (:apue:`16.5`, :apue:`17.2`).

    Made by :meth:`pair`, by ``transports.connect("memory://name")`` to a
    :class:`MemoryListener`, or by that listener's ``accept``. Each direction
    buffers up to ``capacity`` bytes.
    """

    network = "memory"
    _kind = Kind.STREAM
    _send_allowed, _recv_allowed = allowed_masks(network)

    def __init__(
        self,
        cond: threading.Condition,
        incoming: Direction,
        outgoing: Direction,
        local: NamedAddress,
        remote: NamedAddress,
    ) -> None:
        super().__init__(cond, local)
        self._in = incoming
        self._out = outgoing
        self._remote = remote

    @classmethod
    def pair(cls, name: str = "pair", *, capacity: int = DEFAULT_CAPACITY) -> tuple[Self, Self]:
        """Two connected ends, like ``socketpair`` (:apue:`17.2`)."""
        check_size("capacity", capacity)
        cond = threading.Condition()
        a_to_b, b_to_a = Direction(capacity), Direction(capacity)
        first, second = NamedAddress("memory", f"{name}/a"), NamedAddress("memory", f"{name}/b")
        return cls(cond, b_to_a, a_to_b, first, second), cls(cond, a_to_b, b_to_a, second, first)

    @property
    def remote_address(self) -> Address | None:
        """The peer's name."""
        return self._remote

    def send(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> int:
        """Copy what fits of *data* into the peer's buffer; return the count (waits for room)."""
        if flags:
            check_flags(flags, SendFlags, self._send_allowed, self.network)
        with memoryview(data) as whole, whole.cast("B") as view:
            return self._send(view, flags, Deadline(self._timeout))

    def _send(self, view: memoryview, flags: SendFlags, deadline: Deadline) -> int:
        """The body of :meth:`send`, waiting under *deadline* (shared by the calls of one send_all)."""
        if not len(view):
            self._check_can_send("send")
            return 0
        with self._cond:
            out = self._out
            self._wait(
                lambda: self._check_can_send("send") or len(out.buffer) < out.capacity,
                deadline,
                bool(flags & SendFlags.DONTWAIT),
                "send",
            )
            count = min(out.capacity - len(out.buffer), len(view))
            out.buffer += view[:count]
            self._cond.notify_all()
            return count

    def _check_can_send(self, op: str) -> bool:
        if self._closed:
            raise self._closed_error(op)
        if self._out.writer_done:
            raise failure(BrokenPipe, errno.EPIPE, op, self._where(), "this end was shut down for writing")
        if self._out.reader_gone:
            peer = self._remote.url(self.network)
            raise failure(BrokenPipe, errno.EPIPE, op, peer, "the peer has closed its end; stop sending")
        return False

    def send_all(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> None:
        """Return once all of *data* is buffered for the peer (:apue:`14.7`); errors carry ``bytes_sent``.

        The timeout covers the whole call.
        """
        if flags:
            check_flags(flags, SendFlags, self._send_allowed, self.network)
        deadline = Deadline(self._timeout)
        sent = 0
        with memoryview(data) as whole, whole.cast("B") as view:
            try:
                while True:
                    sent += self._send(view[sent:], flags, deadline)
                    if sent >= len(view):
                        return
            except TransportError as exc:
                exc.op = "send_all"
                exc.bytes_sent = sent
                raise

    def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        """Take up to *max_bytes*; ``b""`` at end of stream (:apue:`16.5`).

        Memory grows with the bytes taken, never with *max_bytes*:
        ``recv(2**40)`` returns what is buffered (with ``RecvFlags.WAITALL``,
        what arrives until that many came or the stream ended).
        """
        if flags:
            check_flags(flags, RecvFlags, self._recv_allowed, self.network)
        sink = Collected()
        self._receive(check_size("max_bytes", max_bytes), flags, sink, Deadline(self._timeout))
        return sink.taken()

    def recv_into(self, buffer: Buffer, nbytes: int = 0, flags: RecvFlags = RecvFlags.NONE) -> int:
        """Take up to *nbytes* (the buffer's size when 0) into *buffer*; 0 at end of stream."""
        if flags:
            check_flags(flags, RecvFlags, self._recv_allowed, self.network)
        check_size("nbytes", nbytes)
        with memoryview(buffer) as whole, whole.cast("B") as view:
            if nbytes > len(view):
                raise ValueError(f"recv_into: nbytes {nbytes} is larger than the {len(view)}-byte buffer")
            return self._receive(nbytes or len(view), flags, Filled(view), Deadline(self._timeout))

    def _receive(self, want: int, flags: RecvFlags, sink: Sink, deadline: Deadline) -> int:
        """Take up to *want* bytes into *sink*, waiting under *deadline*: the body of every receive."""
        incoming = self._in
        with self._cond:
            if self._closed:
                raise self._closed_error("recv")
            if not want:
                return 0
            if flags & RecvFlags.WAITALL and not flags & (RecvFlags.PEEK | RecvFlags.DONTWAIT):
                return self._receive_all(want, sink, deadline)
            # A peek that waits for all can only wait for what the buffer can hold.
            enough = min(want, incoming.capacity) if flags & RecvFlags.WAITALL else 1
            self._wait(
                lambda: len(incoming.buffer) >= enough or incoming.writer_done,
                deadline,
                bool(flags & RecvFlags.DONTWAIT),
                "recv",
            )
            count = min(want, len(incoming.buffer))
            sink.put(incoming.buffer[:count])
            if not flags & RecvFlags.PEEK:
                del incoming.buffer[:count]
                self._cond.notify_all()
            return count

    def _receive_all(self, want: int, sink: Sink, deadline: Deadline) -> int:
        """MSG_WAITALL: take pieces as they come until *want* bytes or the end of stream (holding the lock)."""
        incoming = self._in
        got = 0
        try:
            while got < want:
                self._wait(lambda: bool(incoming.buffer) or incoming.writer_done, deadline, False, "recv")
                if not incoming.buffer:
                    break  # end of stream: return what arrived
                count = min(want - got, len(incoming.buffer))
                sink.put(incoming.buffer[:count])
                del incoming.buffer[:count]
                got += count
                self._cond.notify_all()  # the sender may be waiting for room
        except TransportError as exc:
            exc.partial = sink.taken()  # consumed already: hand it back with the error
            raise
        return got

    def recv_exactly(self, n: int) -> bytes:
        """Exactly *n* bytes, or :class:`~transports.errors.UnexpectedEOF` with the partial data (:apue:`14.7`).

        The result grows as the bytes arrive: asking for 256 MiB when the peer
        sends 3 bytes and ends the stream holds 3 bytes, not 256 MiB. The
        timeout covers the whole call; an error carries the bytes taken so
        far in ``partial``.
        """
        check_size("n", n)
        sink = Collected()
        deadline = Deadline(self._timeout)
        try:
            while len(sink) < n:
                if not self._receive(n - len(sink), RecvFlags.NONE, sink, deadline):
                    raise UnexpectedEOF(
                        f"recv_exactly {self._where()}: the peer ended the stream after {len(sink)} of {n} bytes",
                        partial=sink.taken(),
                        expected=n,
                        op="recv_exactly",
                        address=self._where(),
                    )
        except TransportError as exc:
            if exc.partial is None and not isinstance(exc, UnexpectedEOF):
                exc.partial = sink.taken()
            exc.op = "recv_exactly"
            raise
        return sink.taken()

    def shutdown(self, how: ShutdownHow = "write") -> None:
        """Half-close: ``"write"`` gives the peer end of stream; ``"read"`` discards what arrives."""
        if how not in ("read", "write", "both"):
            raise ValueError(f"shutdown how must be 'read', 'write' or 'both', got {how!r}")
        with self._cond:
            if self._closed:
                raise self._closed_error("shutdown")
            if how in ("write", "both"):
                self._out.writer_done = True
            if how in ("read", "both"):
                self._in.reader_gone = True
                self._in.writer_done = True
                self._in.buffer.clear()
            self._cond.notify_all()

    def close(self) -> None:
        """Close this end: the peer reads end of stream and its sends fail with BrokenPipe."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._out.writer_done = True
            self._in.reader_gone = True
            self._in.buffer.clear()
            self._cond.notify_all()


class MemoryListener(MemoryBase):
    """Accepts ``memory://name`` connections (:apue:`16.4`).

    ``backlog`` connections may wait to be accepted; more make ``connect``
    fail with :class:`~transports.errors.ConnectionRefused`, as a full Unix
    listener does.
    """

    network = "memory"
    _kind = Kind.STREAM

    def __init__(self, name: str, *, backlog: int = 128, capacity: int = DEFAULT_CAPACITY) -> None:
        super().__init__(threading.Condition(), NamedAddress("memory", name_of(name, "memory")))
        self._backlog = check_size("backlog", backlog)
        self._capacity = check_size("capacity", capacity)
        self._pending: collections.deque[MemoryStreamTransport] = collections.deque()
        self._clients = itertools.count(1)
        _listeners.claim(self._local.name, self, "listen on")

    @property
    def address(self) -> NamedAddress:
        """The name connections arrive at."""
        return self._local

    def _connect(self, timeout: float | None) -> MemoryStreamTransport:
        client_name = NamedAddress("memory", f"{self._local.name}/client-{next(self._clients)}")
        cond = threading.Condition()
        up, down = Direction(self._capacity), Direction(self._capacity)
        client = MemoryStreamTransport(cond, down, up, client_name, self._local)
        server = MemoryStreamTransport(cond, up, down, self._local, client_name)
        client.timeout = timeout
        with self._cond:
            if self._closed or len(self._pending) >= self._backlog:
                why = "it is closing" if self._closed else f"its backlog of {self._backlog} is full"
                raise failure(
                    ConnectionRefused, errno.ECONNREFUSED, "connect to", self._where(), f"refused, {why}"
                )
            self._pending.append(server)
            self._cond.notify_all()
        return client

    def accept(self) -> MemoryStreamTransport:
        """Wait for the next connection (:apue:`16.4`); TransportClosed once the listener is closed."""
        deadline = Deadline(self._timeout)
        with self._cond:
            self._wait(lambda: bool(self._pending), deadline, False, "accept on")
            return self._pending.popleft()

    def __iter__(self) -> Iterator[MemoryStreamTransport]:
        """Accept connections until the listener is closed."""
        while True:
            try:
                yield self.accept()
            except TransportClosed:
                return

    def close(self) -> None:
        """Stop listening: waiting ``accept`` calls wake up, pending connections see end of stream."""
        _listeners.release(self._local.name, self)
        with self._cond:
            self._closed = True
            pending, self._pending = list(self._pending), collections.deque()
            self._cond.notify_all()
        for conn in pending:
            conn.close()


def _connect_stream(name: str, timeout: float | None) -> MemoryStreamTransport:
    return _listeners.find(name, "connect to", "is the server started?")._connect(timeout)


class _OpenArgs(Protocol):
    """What :class:`MemoryScheme` reads of :class:`transports.registry.OpenArgs`.

    Typed here rather than imported: the registry imports this module when a
    ``memory://`` URL is first opened, and this module does not import it back.
    """

    @property
    def timeout(self) -> float | None: ...

    @property
    def backlog(self) -> int: ...


class MemoryScheme:
    """The registry entries for ``memory://`` and ``memorygram://``."""

    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        self.description = "in-memory stream (tests)" if kind is Kind.STREAM else "in-memory datagram (tests)"
        self._scheme = "memory" if kind is Kind.STREAM else "memorygram"

    def connect(self, url: str, args: _OpenArgs) -> MemoryStreamTransport | MemoryDatagramTransport:
        name = name_of(url, self._scheme)
        if self.kind is Kind.STREAM:
            return _connect_stream(name, args.timeout)
        endpoint = MemoryDatagramTransport.connect(name)
        endpoint.timeout = args.timeout
        return endpoint

    def listen(self, url: str, args: _OpenArgs) -> MemoryListener:
        if self.kind is not Kind.STREAM:
            raise AddressError(f"listen({url!r}): memorygram is datagram; use transports.bind() instead")
        listener = MemoryListener(name_of(url, "memory"), backlog=args.backlog)
        listener.timeout = args.timeout
        return listener

    def bind(self, url: str, args: _OpenArgs) -> MemoryDatagramTransport:
        if self.kind is Kind.STREAM:
            raise AddressError(f"bind({url!r}): memory is a stream; use transports.listen() instead")
        name = url.split("://", 1)[1] if "://" in url else ""
        endpoint = MemoryDatagramTransport.bind(name or None)
        endpoint.timeout = args.timeout
        return endpoint
