"""A clogged pair: every send waits until the peer has received it (:apue:`14.7`, :apue:`16.8`).

:func:`~transports.testing.clogged` wraps a factory of connected stream pairs. Each end of a
pair it makes hands a send to the transport underneath, then waits until the
other end has received every byte of it -- as if the connection had no
buffer at all, whatever the kernel (or the transport) would buffer. So a
test can make a send block, or prove that code does not rely on buffering
(sending, then receiving the answer, in one thread), without filling socket
buffers whose sizes vary by system::

    from transports.testing import clogged, run_stream_checks
    run_stream_checks(clogged(lambda: transports.socketpair("stream")))

The stream checks pass on clogged pairs: each one receives while it sends.
A send that waits for the peer ends as any blocked call does: with
:class:`~transports.TransportTimeout` once the end's timeout passes
(``bytes_sent`` says what the transport took), or with
:class:`~transports.TransportClosed` when ``close()`` is called on its
end from another thread. ``DONTWAIT`` and ``OOB`` sends never wait. The waiting is the
wrapper's, with a condition variable: the wrapped ends may be of either
face, since the async runners show async ends to the checks as blocking
ones (:func:`~transports.testing.run_async_stream_checks` takes
``clogged=True``).
"""

from __future__ import annotations

import errno
import threading
from typing import Any, Self, TypeVar, cast

from transports._compat import Buffer, WritableBuffer
from transports.errors import TransportClosed, TransportTimeout, UnexpectedEOF
from transports.flags import RecvFlags, SendFlags
from transports.testing._bridge import members_of
from transports.testing.base import PairFactory

__all__ = ["CloggedEnd", "clogged"]

T = TypeVar("T")


class _Lockstep:
    """What the two ends of one clogged pair share: bytes sent and received each way, and who closed."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.sent = [0, 0]
        self.received = [0, 0]
        self.closed = [False, False]

    def took(self, sender: int, count: int) -> None:
        with self.cond:
            self.received[sender] += count
            self.cond.notify_all()

    def close(self, side: int) -> None:
        with self.cond:
            self.closed[side] = True
            self.cond.notify_all()

    def wait_taken(self, end: CloggedEnd, count: int, op: str) -> None:
        """Count *count* more bytes sent by *end*; wait until its peer has received them all."""
        side = end.side
        timeout: float | None = end._end.timeout
        with self.cond:
            self.sent[side] += count
            target = self.sent[side]

            def done() -> bool:
                return self.received[side] >= target or self.closed[side] or self.closed[1 - side]

            if not self.cond.wait_for(done, timeout):
                raise TransportTimeout(
                    f"{op}: the peer of a clogged pair received nothing for {timeout} s",
                    errno=errno.ETIMEDOUT,
                    bytes_sent=count,
                    op=op,
                )
            if self.closed[side]:
                raise TransportClosed(
                    f"{op}: the clogged end was closed while the send waited for the peer",
                    errno=errno.EBADF,
                    op=op,
                )


#: The most one piece of a receive loop asks for: its memory follows what arrives.
_PIECE = 1 << 20


def _waits_for_all(flags: RecvFlags) -> bool:
    return bool(flags & RecvFlags.WAITALL) and not flags & (RecvFlags.PEEK | RecvFlags.DONTWAIT)


class CloggedEnd:
    """One end of a clogged pair: the wrapped end, with sends that wait for the peer (:apue:`14.7`, :apue:`16.8`).

    Every other name is the wrapped end's (``clogged_class()`` copies them onto a subclass).
    """

    __slots__ = ("_end", "_state", "side")
    _end: Any
    _state: _Lockstep
    side: int

    def __init__(self, end: Any, state: _Lockstep, side: int) -> None:
        object.__setattr__(self, "_end", end)
        object.__setattr__(self, "_state", state)
        object.__setattr__(self, "side", side)

    def __setattr__(self, name: str, value: object) -> None:
        setattr(self._end, name, value)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<clogged {self._end!r}>"

    def _sent(self, count: int, flags: SendFlags, op: str) -> None:
        if count and not flags & (SendFlags.DONTWAIT | SendFlags.OOB):  # urgent data is not counted
            self._state.wait_taken(self, count, op)

    def _received(self, count: int, flags: RecvFlags) -> None:
        if count and not flags & RecvFlags.PEEK:
            self._state.took(1 - self.side, count)

    def send(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> int:
        """Send as the wrapped end does, then wait until the peer has received it."""
        count: int = self._end.send(data, flags)
        self._sent(count, flags, "send")
        return count

    def send_all(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> None:
        """Send all of *data* as the wrapped end does, then wait until the peer has received it."""
        self._end.send_all(data, flags)
        self._sent(memoryview(data).nbytes, flags, "send_all")

    def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        """Receive as the wrapped end does; what is taken releases the peer's send.

        ``WAITALL`` is a loop of plain receives here, so that each piece that
        comes releases the send that waits for it.
        """
        if _waits_for_all(flags):
            return self._receive_all(max_bytes, flags & ~RecvFlags.WAITALL, exactly=False)
        data: bytes = self._end.recv(max_bytes, flags)
        self._received(len(data), flags)
        return data

    def recv_into(self, buffer: WritableBuffer, nbytes: int = 0, flags: RecvFlags = RecvFlags.NONE) -> int:
        """Receive into *buffer* as the wrapped end does; what is taken releases the peer's send."""
        if _waits_for_all(flags):
            view = memoryview(buffer).cast("B")
            data = self._receive_all(nbytes or len(view), flags & ~RecvFlags.WAITALL, exactly=False)
            view[: len(data)] = data
            return len(data)
        count: int = self._end.recv_into(buffer, nbytes, flags)
        self._received(count, flags)
        return count

    def recv_exactly(self, n: int) -> bytes:
        """Receive exactly *n* bytes, as a loop of plain receives, each releasing the peer's send.

        At end of stream it raises ``UnexpectedEOF``, on a timeout the
        wrapped end's ``TransportTimeout``, both with what came in ``partial``.
        """
        if n < 0:
            return bytes(self._end.recv_exactly(n))  # the wrapped end says what is wrong with n
        return self._receive_all(n, RecvFlags.NONE, exactly=True)

    def _receive_all(self, want: int, flags: RecvFlags, *, exactly: bool) -> bytes:
        got = bytearray()
        while len(got) < want:
            try:
                chunk = self.recv(min(want - len(got), _PIECE), flags)
            except TransportTimeout as exc:
                exc.partial = bytes(got)
                raise
            if not chunk:
                if not exactly:
                    break
                raise UnexpectedEOF(
                    f"recv_exactly: the stream ended after {len(got)} of {want} bytes",
                    partial=bytes(got),
                    expected=want,
                    op="recv_exactly",
                )
            got += chunk
        return bytes(got)

    def close(self) -> None:
        """Close the wrapped end, and wake a send of this end that waits for the peer."""
        try:
            self._end.close()
        finally:
            self._state.close(self.side)


def _forward(name: str) -> Any:
    def method(self: CloggedEnd, *args: Any, **kwargs: Any) -> Any:
        return getattr(self._end, name)(*args, **kwargs)

    method.__name__ = name
    return method


def _forward_property(name: str, settable: bool) -> property:
    def get(self: CloggedEnd) -> Any:
        return getattr(self._end, name)

    def put(self: CloggedEnd, value: Any) -> None:
        setattr(self._end, name, value)

    return property(get, put if settable else None)


#: The clogged class made for each wrapped class, by the class.
_CLASSES: dict[type, type[CloggedEnd]] = {}


def clogged_class(cls: type) -> type[CloggedEnd]:
    """A :class:`CloggedEnd` subclass that also has every other public method and property of *cls* (:apue:`14.7`)."""
    made = _CLASSES.get(cls)
    if made is None:
        namespace = members_of(cls, _forward, _forward_property, skip=CloggedEnd)
        made = _CLASSES[cls] = type(f"Clogged{cls.__name__}", (CloggedEnd,), namespace)
    return made


def clogged(factory: PairFactory[T]) -> PairFactory[T]:
    """A factory of the pairs of *factory*, clogged: each send waits until the peer has received it (:apue:`14.7`, :apue:`16.8`).

    Each end is a :class:`CloggedEnd` with every public method and property
    of the end it wraps, so it is typed as that end.
    """

    def make() -> tuple[T, T]:
        a, b = factory()
        state = _Lockstep()
        ends = clogged_class(type(a))(a, state, 0), clogged_class(type(b))(b, state, 1)
        return cast("tuple[T, T]", ends)

    return make
