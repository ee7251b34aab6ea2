"""A fault-injecting wrapper for testing code that uses transports, on both faces (:apue:`16.5`).

Real networks send less than asked, deliver in small pieces, stall, reset
connections and (for UDP) drop or repeat datagrams. :class:`FaultyTransport`
wraps any :class:`~transports.Transport` and makes those things
happen on purpose, deterministically, so a unit test can prove that the
code under test copes: that it loops on short sends and reads (:apue:`14.7`), survives a reset, and does not assume datagrams arrive
exactly once.

>>> import transports
>>> a, b = transports.socketpair()
>>> flaky = FaultyTransport(a, max_send=3)
>>> flaky.send(b"hello")            # a short send, as a busy kernel may do
3
>>> flaky.send_all(b"hello")        # send_all still delivers everything
>>> flaky.close(); b.close()

The async wrappers (:mod:`transports.testing.aio_faults`) apply the same
:class:`Faults` the same way: every fault is decided once, in
``FaultLogic``, as an operation that yields the calls it makes on the
inner transport (a :data:`Call`); this module makes them, the async one awaits them.
"""

from __future__ import annotations

import contextlib
import errno
import time
from collections.abc import Generator
from typing import Any, ClassVar, Generic, NamedTuple, Self, TypeAlias, TypeVar, overload

import attrs

from transports._closing import CloseOnExit
from transports._compat import Buffer, WritableBuffer
from transports._handles import Endpoint
from transports.addresses import Address, Datagram
from transports.errors import ConnectionReset, TransportError, UnexpectedEOF
from transports.flags import RecvFlags, SendFlags
from transports.kinds import Kind
from transports.options import SO_LINGER, Linger
from transports.protocols import DatagramTransport, ShutdownHow, StreamTransport, Transport

__all__ = [
    "Faults",
    "FaultyDatagramTransport",
    "FaultyMessageTransport",
    "FaultyStreamTransport",
    "FaultyTransport",
    "Passthrough",
]


@attrs.frozen
class Faults:
    """Which faults to inject (:apue:`16.5`). Every count is deterministic.

    * ``max_send``: a send takes at most this many bytes (short sends).
    * ``max_recv``: a stream receive returns at most this many bytes (short reads).
    * ``delay``: seconds to stall before every send and receive.
    * ``reset_after``: after this many bytes have been sent, the connection
      is reset (the peer sees ECONNRESET where the transport allows, and
      this side raises :class:`~transports.ConnectionReset`).
    * ``drop_every``: every n-th message sent is silently lost (datagrams).
    * ``duplicate_every``: every n-th message sent arrives twice (datagrams).
    """

    max_send: int | None = None
    max_recv: int | None = None
    delay: float = 0.0
    reset_after: int | None = None
    drop_every: int | None = None
    duplicate_every: int | None = None

    def __attrs_post_init__(self) -> None:
        for name in ("max_send", "max_recv", "reset_after", "drop_every", "duplicate_every"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"Faults.{name} must be an int >= 1 or None, got {value!r}")
        if self.delay < 0:
            raise ValueError(f"Faults.delay must be >= 0 seconds, got {self.delay!r}")


T = TypeVar("T")
InnerT = TypeVar("InnerT", bound=Transport)
EndT = TypeVar("EndT", bound=Endpoint)

#: The name a :data:`Call` gives a stall: ``time.sleep`` on the sync face, ``asyncio.sleep`` on the async one.
STALL = "stall"


#: One call a faulty operation makes, as a plain tuple: ``(name, args)``, the inner transport's
#: method *name* (or :data:`STALL`) and its arguments (:apue:`16.5`).
Call: TypeAlias = tuple[str, tuple[Any, ...]]


#: A faulty operation, written once for both faces: it yields each call to make and
#: is sent its result (or thrown its exception); its return value is the operation's.
FaultOp: TypeAlias = Generator[Call, Any, T]


def drive(inner: Any, op: FaultOp[T]) -> T:
    """Make the calls of *op* on the sync face: each one here, in this thread (:apue:`16.5`)."""
    try:
        name, args = next(op)
        while True:
            try:
                result = (time.sleep if name == STALL else getattr(inner, name))(*args)
            except BaseException as exc:
                name, args = op.throw(exc)
            else:
                name, args = op.send(result)
    except StopIteration as stop:
        done: T = stop.value
        return done


class Forwarding(Generic[EndT]):
    """What a wrapper of either face hands to ``inner`` unchanged: everything that never waits (:apue:`16.2`)."""

    def __init__(self, inner: EndT) -> None:
        self.inner = inner

    @property
    def kind(self) -> Kind:
        """The inner transport's kind."""
        return self.inner.kind

    @property
    def closed(self) -> bool:
        """Whether the inner transport is closed."""
        return self.inner.closed

    @property
    def timeout(self) -> float | None:
        """The inner transport's timeout."""
        return self.inner.timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self.inner.timeout = value

    @property
    def local_address(self) -> Address:
        """The inner transport's address."""
        return self.inner.local_address

    @property
    def remote_address(self) -> Address | None:
        """The inner transport's peer."""
        return self.inner.remote_address

    def fileno(self) -> int:
        """The inner transport's descriptor."""
        return self.inner.fileno()

    def close(self) -> None:
        """Close the inner transport."""
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} around {self.inner!r}>"


class Passthrough(Forwarding[InnerT], CloseOnExit):
    """A transport that hands every call to another one: the base for fakes (:apue:`16.5`).

    Subclass it and override the one method you want to break or observe;
    everything else (including what the protocols do not name, through
    attribute lookup) goes to ``inner`` unchanged. :class:`FaultyTransport`
    is one such subclass; :class:`transports.testing.aio_faults.Passthrough`
    is the async twin.
    """

    def send(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> int:
        """The inner transport's ``send``."""
        return self.inner.send(data, flags)

    def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        """The inner transport's ``recv``."""
        return self.inner.recv(max_bytes, flags)

    def recv_into(self, buffer: WritableBuffer, nbytes: int = 0, flags: RecvFlags = RecvFlags.NONE) -> int:
        """The inner transport's ``recv_into``."""
        return self.inner.recv_into(buffer, nbytes, flags)


class FaultLogic(Forwarding[Any]):
    """The faults of either face: what to cut, drop, repeat, delay or reset, and when (:apue:`16.5`, :apue:`14.7`).

    Each operation yields the :data:`Call` tuples it makes on the inner
    transport; :class:`FaultyTransport` makes them and the async
    :class:`transports.testing.aio_faults.FaultyTransport` awaits them.
    """

    #: This face's wrapper classes (set below each face's classes).
    _shapes: ClassVar[Shapes]

    def __new__(cls, inner: Any, faults: Faults | None = None, **kwargs: Any) -> Self:
        """The wrapper class of this face shaped like *inner* (a subclass asked for by name: itself)."""
        shapes = cls._shapes
        if cls is not shapes.plain:
            return super().__new__(cls)
        problem = cls._refuse(inner)
        if problem:
            raise TypeError(f"{cls.__module__}.{cls.__name__} wraps {problem}, got {inner!r}")
        chosen: type[Self] = faulty_class(inner, shapes)
        return super().__new__(chosen)

    @classmethod
    def _refuse(cls, inner: object) -> str | None:
        """What this face wraps and where to go instead, if *inner* is a transport of the other face."""
        raise NotImplementedError

    def __init__(self, inner: Any, faults: Faults | None = None, **kwargs: Any) -> None:
        super().__init__(inner)
        self.faults = faults if faults is not None else Faults(**kwargs)
        if self.faults.max_recv is not None and inner.kind is not Kind.STREAM:
            raise ValueError(
                "max_recv cuts reads short, which only a stream allows; message kinds keep boundaries"
            )
        if (self.faults.drop_every or self.faults.duplicate_every) and inner.kind is Kind.STREAM:
            raise ValueError("drop_every/duplicate_every apply to datagrams; a stream never drops or repeats")
        self.bytes_sent = 0
        self.messages_sent = 0
        self._last_sent: int | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.faults} around {self.inner!r}>"

    # -- the decisions ---------------------------------------------------------------------

    def _stall(self) -> FaultOp[None]:
        yield (STALL, (self.faults.delay,))  # the injected fault itself, not synchronisation

    def _reset(self, op: str) -> ConnectionReset:
        raw = getattr(self.inner, "raw_socket", None)
        if raw is not None:
            # Linger 0 makes close send RST, so the peer sees a real reset.
            with contextlib.suppress(AttributeError, TransportError):
                self.inner.set_option(SO_LINGER, Linger(0))
        self.inner.close()
        return ConnectionReset(
            f"{op}: connection reset by the fault injector after {self.bytes_sent} bytes",
            errno=errno.ECONNRESET,
            op=op,
            bytes_sent=self.bytes_sent,
        )

    def _limit(self, size: int) -> int:
        limit = size if self.faults.max_send is None else min(size, self.faults.max_send)
        if self.faults.reset_after is not None:
            limit = min(limit, max(self.faults.reset_after - self.bytes_sent, 0))
        return limit

    def _send_message(self, send: Call, size: int) -> FaultOp[int]:
        """One *size*-byte message through the drop and duplicate faults; *send* sends it once.

        ``send`` and ``send_to`` of every message kind go through here.
        """
        self.messages_sent += 1
        number = self.messages_sent
        if self.faults.drop_every is not None and number % self.faults.drop_every == 0:
            return size  # lost on the way: the sender cannot tell
        sent: int = yield send
        if self.faults.duplicate_every is not None and number % self.faults.duplicate_every == 0:
            yield send
        self.bytes_sent += sent
        return sent

    # -- the operations ------------------------------------------------------------------------

    def _send_op(self, data: Buffer, flags: SendFlags) -> FaultOp[int]:
        if self.faults.delay:
            yield from self._stall()
        with memoryview(data) as whole, whole.cast("B") as view:
            if self.kind is not Kind.STREAM:
                return (yield from self._send_message(("send", (view, flags)), len(view)))
            if (
                self.faults.reset_after is not None
                and self.bytes_sent >= self.faults.reset_after
                and len(view)
            ):
                raise self._reset("send")
            sent: int = yield ("send", (view[: self._limit(len(view))], flags))
            self.bytes_sent += sent
            return sent

    def _recv_op(self, max_bytes: int, flags: RecvFlags) -> FaultOp[bytes]:
        if self.faults.delay:
            yield from self._stall()
        if self.faults.max_recv is not None:
            max_bytes = min(max_bytes, self.faults.max_recv)
        data: bytes = yield ("recv", (max_bytes, flags))
        return data

    def _recv_into_op(self, buffer: Buffer, nbytes: int, flags: RecvFlags) -> FaultOp[int]:
        if self.faults.delay:
            yield from self._stall()
        if self.faults.max_recv is not None:
            with memoryview(buffer) as view:
                size = nbytes or view.nbytes
            nbytes = min(size, self.faults.max_recv)
        count: int = yield ("recv_into", (buffer, nbytes, flags))
        return count

    def _send_all_op(self, data: Buffer, flags: SendFlags) -> FaultOp[None]:
        """Loop on the faulty send until everything went (:apue:`14.7`); an error carries ``bytes_sent``."""
        with memoryview(data) as whole, whole.cast("B") as view:
            done = 0
            try:
                while done < len(view):
                    done += yield from self._send_op(view[done:], flags)
            except TransportError as exc:
                exc.bytes_sent = done
                raise
            finally:
                self._last_sent = done

    def _recv_exactly_op(self, n: int) -> FaultOp[bytes]:
        """Loop on the faulty receive until *n* bytes arrived (:apue:`14.7`)."""
        parts: list[bytes] = []
        got = 0
        while got < n:
            chunk = yield from self._recv_op(n - got, RecvFlags.NONE)
            if not chunk:
                raise UnexpectedEOF(
                    f"recv_exactly: the peer ended the stream after {got} of {n} bytes",
                    partial=b"".join(parts),
                    expected=n,
                    op="recv_exactly",
                )
            parts.append(chunk)
            got += len(chunk)
        return b"".join(parts)

    def _send_to_op(self, data: Buffer, address: Any, flags: SendFlags) -> FaultOp[int]:
        if self.faults.delay:
            yield from self._stall()
        with memoryview(data) as view:
            size = view.nbytes
        return (yield from self._send_message(("send_to", (data, address, flags)), size))

    def _recv_from_op(self, max_bytes: int, flags: RecvFlags) -> FaultOp[Datagram]:
        if self.faults.delay:
            yield from self._stall()
        message: Datagram = yield ("recv_from", (max_bytes, flags))
        return message


class FaultyTransport(FaultLogic, CloseOnExit):
    """Wraps a transport and injects :class:`Faults` into its traffic (:apue:`16.5`, :apue:`14.7`).

    Keyword arguments are those of :class:`Faults`. What it gives back is
    shaped like what it wraps, so that it satisfies exactly the protocols the
    inner transport satisfies: a :class:`FaultyStreamTransport` around a
    byte stream (``send_all`` and ``recv_exactly`` built on the faulty
    ``send`` and ``recv``, so they show what a correct loop does with short
    transfers), a :class:`FaultyDatagramTransport` around a datagram
    transport (``send_to``/``recv_from`` with drops and duplicates), a
    :class:`FaultyMessageTransport` around a connected message transport
    (seqpacket), and a plain :class:`FaultyTransport` otherwise. Anything
    not wrapped (options, ``raw_socket`` ...) is passed through to the
    inner transport. For a :mod:`transports.aio` transport use
    :class:`transports.testing.aio_faults.FaultyTransport`.
    """

    @overload
    def __new__(
        cls, inner: StreamTransport, faults: Faults | None = None, **kwargs: Any
    ) -> FaultyStreamTransport: ...
    @overload
    def __new__(
        cls, inner: DatagramTransport, faults: Faults | None = None, **kwargs: Any
    ) -> FaultyDatagramTransport: ...
    @overload
    def __new__(cls, inner: Transport, faults: Faults | None = None, **kwargs: Any) -> FaultyTransport: ...
    def __new__(cls, inner: Transport, faults: Faults | None = None, **kwargs: Any) -> FaultyTransport:
        return super().__new__(cls, inner, faults, **kwargs)

    @classmethod
    def _refuse(cls, inner: object) -> str | None:
        if hasattr(type(inner), "__aenter__") and not hasattr(type(inner), "__enter__"):
            return "a sync transport (for an aio one use transports.testing.aio_faults.FaultyTransport)"
        return None

    def send(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> int:
        """Send with the faults applied; may send less than asked."""
        return drive(self.inner, self._send_op(data, flags))

    def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        """Receive, in short pieces if ``max_recv`` says so."""
        return drive(self.inner, self._recv_op(max_bytes, flags))

    def recv_into(self, buffer: WritableBuffer, nbytes: int = 0, flags: RecvFlags = RecvFlags.NONE) -> int:
        """Receive into *buffer*, in short pieces if ``max_recv`` says so."""
        return drive(self.inner, self._recv_into_op(buffer, nbytes, flags))


class FaultyMessageTransport(FaultyTransport):
    """A :class:`FaultyTransport` around a connected message transport (seqpacket, :apue:`16.2`): it can half-close."""

    def shutdown(self, how: ShutdownHow = "write") -> None:
        """Half-close the inner stream."""
        self.inner.shutdown(how)


class FaultyStreamTransport(FaultyMessageTransport):
    """A :class:`FaultyTransport` around a byte stream: short sends and reads, resets (:apue:`14.7`)."""

    def send_all(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> None:
        """Loop on the faulty :meth:`send` until everything went (:apue:`14.7`)."""
        drive(self.inner, self._send_all_op(data, flags))

    def recv_exactly(self, n: int) -> bytes:
        """Loop on the faulty :meth:`recv` until *n* bytes arrived (:apue:`14.7`)."""
        return drive(self.inner, self._recv_exactly_op(n))


class FaultyDatagramTransport(FaultyTransport):
    """A :class:`FaultyTransport` around a datagram transport: drops and duplicates (:apue:`16.5`)."""

    @property
    def max_message_size(self) -> int:
        """The inner transport's largest message."""
        size: int = self.inner.max_message_size
        return size

    def send_to(self, data: Buffer, address: Any, flags: SendFlags = SendFlags.NONE) -> int:
        """``send_to`` of a datagram transport, with drops and duplicates."""
        return drive(self.inner, self._send_to_op(data, address, flags))

    def recv_from(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> Datagram:
        """``recv_from`` of a datagram transport, stalled by ``delay``."""
        return drive(self.inner, self._recv_from_op(max_bytes, flags))


class Shapes(NamedTuple):
    """One face's wrapper classes, by the shape of what they wrap, and the protocols that tell the shapes apart (:apue:`16.5`)."""

    stream: type[Any]
    datagram: type[Any]
    message: type[Any]
    plain: type[Any]
    stream_protocol: type[Any]
    datagram_protocol: type[Any]


FaultyTransport._shapes = Shapes(
    FaultyStreamTransport,
    FaultyDatagramTransport,
    FaultyMessageTransport,
    FaultyTransport,
    StreamTransport,
    DatagramTransport,
)


def faulty_class(inner: object, shapes: Shapes) -> type[Any]:
    """The wrapper class of *shapes* shaped like *inner*: it satisfies the protocols *inner* satisfies (:apue:`16.5`)."""
    if isinstance(inner, shapes.stream_protocol):
        return shapes.stream
    if isinstance(inner, shapes.datagram_protocol):
        return shapes.datagram
    if callable(getattr(inner, "shutdown", None)):
        return shapes.message
    return shapes.plain
