"""The ``memory://`` stream and its listener, written once for both faces (:apue:`16.5`, :apue:`16.4`, :apue:`14.7`).

:class:`StreamCore` is one end of an in-memory byte stream and
:class:`ListenerCore` a listener, with everything that does not wait:
addresses, half-close, close, and each call that may wait as an
:data:`~transports.testing._memory.Op` (``_send_op``, ``_recv_op`` ...).
:class:`transports.MemoryStreamTransport` drives those
operations in the calling thread, :class:`transports.testing.aio_memory.MemoryStreamTransport`
on the event loop. Both faces share :data:`LISTENERS`, so a sync client
can connect to an async listener and the other way round.
"""

from __future__ import annotations

import collections
import errno
import itertools
from collections.abc import Callable
from typing import ClassVar, Self

from transports._compat import Buffer
from transports._core.deadline import Deadline
from transports._core.validate import check_size
from transports.addresses import Address, NamedAddress
from transports.errors import BrokenPipe, ConnectionRefused, TransportError, UnexpectedEOF
from transports.flags import RecvFlags, SendFlags, allowed_masks, check_flags
from transports.kinds import Kind
from transports.protocols import ShutdownHow
from transports.testing._memory import (
    CAPACITY,
    Collected,
    Direction,
    Filled,
    Gate,
    MemoryBase,
    Names,
    Op,
    Sink,
    failure,
    name_of,
)

__all__ = ["LISTENERS", "ListenerCore", "StreamCore", "connect_stream"]

#: The ``memory://`` listeners of both faces, by name.
LISTENERS: Names[ListenerCore] = Names("memory", "memory listener")


class StreamCore(MemoryBase):
    """One end of an in-memory byte stream, on either face (:apue:`16.5`, :apue:`17.2`)."""

    network = "memory"
    _kind = Kind.STREAM
    _send_allowed, _recv_allowed = allowed_masks(network)

    def __init__(
        self, gate: Gate, incoming: Direction, outgoing: Direction, local: NamedAddress, remote: NamedAddress
    ) -> None:
        super().__init__(gate, local)
        self._in = incoming
        self._out = outgoing
        self._remote = remote
        self._last_sent: int | None = None
        self._read_stopped = False  # a server stopping: receives see end of stream after the buffer

    @classmethod
    def pair(cls, name: str = "pair", *, capacity: int = CAPACITY) -> tuple[Self, Self]:
        """Two connected ends, like ``socketpair`` (:apue:`17.2`)."""
        check_size("capacity", capacity)
        gate = Gate()
        a_to_b, b_to_a = Direction(capacity), Direction(capacity)
        first, second = NamedAddress("memory", f"{name}/a"), NamedAddress("memory", f"{name}/b")
        return cls(gate, b_to_a, a_to_b, first, second), cls(gate, a_to_b, b_to_a, second, first)

    @property
    def remote_address(self) -> Address | None:
        """The peer's name."""
        return self._remote

    # -- sending ---------------------------------------------------------------------------

    def _send_op(self, data: Buffer, flags: SendFlags) -> Op[int]:
        if flags:
            check_flags(flags, SendFlags, self._send_allowed, self.network)
        with memoryview(data) as whole, whole.cast("B") as view:
            return (yield from self._send_some(view, flags, Deadline(self._timeout)))

    def _send_some(self, view: memoryview, flags: SendFlags, deadline: Deadline) -> Op[int]:
        """Copy what fits of *view* into the peer's buffer, waiting for room under *deadline*."""
        if not len(view):
            self._check_can_send("send")
            return 0
        out = self._out
        yield (
            self._gate,
            lambda: self._check_can_send("send") or len(out.buffer) < out.capacity,
            deadline,
            bool(flags & SendFlags.DONTWAIT),
            "send",
        )
        count = min(out.capacity - len(out.buffer), len(view))
        out.buffer += view[:count]
        self._gate.notify()
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

    def _send_all_op(self, data: Buffer, flags: SendFlags) -> Op[None]:
        """All of *data* into the peer's buffer under one deadline; errors carry ``bytes_sent``."""
        if flags:
            check_flags(flags, SendFlags, self._send_allowed, self.network)
        deadline = Deadline(self._timeout)
        sent = 0
        with memoryview(data) as whole, whole.cast("B") as view:
            try:
                while True:
                    sent += yield from self._send_some(view[sent:], flags, deadline)
                    if sent >= len(view):
                        return
            except TransportError as exc:
                exc.op = "send_all"
                exc.bytes_sent = sent
                raise
            finally:
                self._last_sent = sent

    # -- receiving -------------------------------------------------------------------------

    def _recv_op(self, max_bytes: int, flags: RecvFlags) -> Op[bytes]:
        if flags:
            check_flags(flags, RecvFlags, self._recv_allowed, self.network)
        sink = Collected()
        yield from self._receive(check_size("max_bytes", max_bytes), flags, sink, Deadline(self._timeout))
        return sink.taken()

    def _recv_into_op(self, buffer: Buffer, nbytes: int, flags: RecvFlags) -> Op[int]:
        if flags:
            check_flags(flags, RecvFlags, self._recv_allowed, self.network)
        check_size("nbytes", nbytes)
        with memoryview(buffer) as whole, whole.cast("B") as view:
            if nbytes > len(view):
                raise ValueError(f"recv_into: nbytes {nbytes} is larger than the {len(view)}-byte buffer")
            return (
                yield from self._receive(nbytes or len(view), flags, Filled(view), Deadline(self._timeout))
            )

    def _receive(self, want: int, flags: RecvFlags, sink: Sink, deadline: Deadline) -> Op[int]:
        """Take up to *want* bytes into *sink*, waiting under *deadline*: the body of every receive."""
        if self._closed:
            raise self._closed_error("recv")
        if not want:
            return 0
        if flags & RecvFlags.WAITALL and not flags & (RecvFlags.PEEK | RecvFlags.DONTWAIT):
            return (yield from self._receive_all(want, sink, deadline))
        incoming = self._in
        # A peek that waits for all can only wait for what the buffer can hold.
        enough = min(want, incoming.capacity) if flags & RecvFlags.WAITALL else 1
        yield (
            self._gate,
            lambda: len(incoming.buffer) >= enough or incoming.writer_done or self._read_stopped,
            deadline,
            bool(flags & RecvFlags.DONTWAIT),
            "recv",
        )
        count = min(want, len(incoming.buffer))
        sink.put(incoming.buffer[:count])
        if not flags & RecvFlags.PEEK:
            del incoming.buffer[:count]
            self._gate.notify()
        return count

    def _receive_all(self, want: int, sink: Sink, deadline: Deadline) -> Op[int]:
        """MSG_WAITALL: take pieces as they come until *want* bytes or the end of stream."""
        incoming = self._in
        got = 0
        taken = bytearray()  # what this call consumed, put back if it is interrupted
        try:
            while got < want:
                yield (
                    self._gate,
                    lambda: bool(incoming.buffer) or incoming.writer_done or self._read_stopped,
                    deadline,
                    False,
                    "recv",
                )
                if not incoming.buffer:
                    break  # end of stream: return what arrived
                count = min(want - got, len(incoming.buffer))
                piece = incoming.buffer[:count]
                sink.put(piece)
                taken += piece
                del incoming.buffer[:count]
                got += count
                self._gate.notify()  # the sender may be waiting for room
        except TransportError as exc:
            exc.partial = sink.taken()  # consumed already: hand it back with the error
            raise
        except BaseException:
            self._put_back(taken)
            raise
        return got

    def _put_back(self, taken: bytearray) -> None:
        """A cancelled (or interrupted) receive gives back what it took, so no byte is lost (holding the gate)."""
        if taken and not self._closed and not self._in.reader_gone:
            self._in.buffer[:0] = taken

    def _recv_exactly_op(self, n: int) -> Op[bytes]:
        """Exactly *n* bytes, or UnexpectedEOF with the partial data; an error carries ``partial``."""
        check_size("n", n)
        sink = Collected()
        deadline = Deadline(self._timeout)
        try:
            while len(sink) < n:
                if not (yield from self._receive(n - len(sink), RecvFlags.NONE, sink, deadline)):
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
        except BaseException:
            self._put_back(bytearray(sink.taken()))
            raise
        return sink.taken()

    # -- what never waits --------------------------------------------------------------------

    def shutdown(self, how: ShutdownHow = "write") -> None:
        """Half-close: ``"write"`` gives the peer end of stream; ``"read"`` discards what arrives."""
        if how not in ("read", "write", "both"):
            raise ValueError(f"shutdown how must be 'read', 'write' or 'both', got {how!r}")
        with self._gate.cond:
            if self._closed:
                raise self._closed_error("shutdown")
            if how in ("write", "both"):
                self._out.writer_done = True
            if how in ("read", "both"):
                self._in.reader_gone = True
                self._in.writer_done = True
                self._in.buffer.clear()
            self._gate.notify()

    def _stop_reading(self) -> None:
        """A stopping server's ``SHUT_RD``: receives see end of stream once the buffer is read; sending goes on."""
        with self._gate.cond:
            self._read_stopped = True
            self._gate.notify()

    def close(self) -> None:
        """Close this end: the peer reads end of stream and its sends fail with BrokenPipe.

        Every call waiting on this end, in any thread or task, wakes with TransportClosed.
        """
        with self._gate.cond:
            if self._closed:
                return
            self._closed = True
            self._out.writer_done = True
            self._in.reader_gone = True
            self._in.buffer.clear()
            self._gate.notify()


class ListenerCore(MemoryBase):
    """Accepts ``memory://name`` connections, on either face (:apue:`16.4`).

    ``backlog`` connections may wait to be accepted; more make ``connect``
    fail with :class:`~transports.ConnectionRefused`, as a full Unix
    listener does.
    """

    network = "memory"
    _kind = Kind.STREAM
    #: The class of the server ends this listener hands out (its face's stream).
    _accepts: ClassVar[type[StreamCore]]

    def __init__(self, name: str, *, backlog: int = 128, capacity: int = CAPACITY) -> None:
        super().__init__(Gate(), NamedAddress("memory", name_of(name, "memory")))
        self._backlog = check_size("backlog", backlog)
        self._capacity = check_size("capacity", capacity)
        self._pending: collections.deque[StreamCore] = collections.deque()
        self._clients = itertools.count(1)
        LISTENERS.claim(self._local.name, self, "listen on")

    @property
    def address(self) -> NamedAddress:
        """The name connections arrive at."""
        return self._local

    def connect_from(self, client_class: type[StreamCore], timeout: float | None) -> StreamCore:
        """A new connection: the client end (of *client_class*, the caller's face) now, the server end queued."""
        client_name = NamedAddress("memory", f"{self._local.name}/client-{next(self._clients)}")
        gate = Gate()
        up, down = Direction(self._capacity), Direction(self._capacity)
        client = client_class(gate, down, up, client_name, self._local)
        server = self._accepts(gate, up, down, self._local, client_name)
        client.timeout = timeout
        with self._gate.cond:
            if self._closed or len(self._pending) >= self._backlog:
                why = "it is closing" if self._closed else f"its backlog of {self._backlog} is full"
                raise failure(
                    ConnectionRefused, errno.ECONNREFUSED, "connect to", self._where(), f"refused, {why}"
                )
            self._pending.append(server)
            self._gate.notify()
        return client

    def _accept_op(self) -> Op[StreamCore]:
        yield (self._gate, lambda: bool(self._pending), Deadline(self._timeout), False, "accept on")
        return self._pending.popleft()

    def _until_op(self, ready: Callable[[], bool], op: str) -> Op[None]:
        """Wait until *ready()* (checked holding this listener's gate) or the listener closes (TransportClosed)."""
        yield (self._gate, ready, Deadline(None), False, op)

    def _changed(self) -> None:
        """Wake whoever waits in :meth:`_until_op`: what *ready* reads has changed."""
        with self._gate.cond:
            self._gate.notify()

    def close(self) -> None:
        """Stop listening: waiting ``accept`` calls wake up, pending connections see end of stream."""
        LISTENERS.release(self._local.name, self)
        with self._gate.cond:
            self._closed = True
            pending, self._pending = list(self._pending), collections.deque()
            self._gate.notify()
        for conn in pending:
            conn.close()


def connect_stream(name: str, client_class: type[StreamCore], timeout: float | None) -> StreamCore:
    """A client end of *client_class* connected to the listener named *name*, of either face (:apue:`16.4`)."""
    return LISTENERS.find(name, "connect to", "is the server started?").connect_from(client_class, timeout)
