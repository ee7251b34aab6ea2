"""What both faces of the framed streams share: everything but the waiting (:apue:`16.5`, :apue:`14.7`).

:mod:`transports.framing.sync` and :mod:`transports.framing.aio` differ only
in how they wait for the transport. The rest is here, written once: the
constructors and properties (:class:`Framing`, :class:`MessageFraming`,
:class:`LineFraming`, generic in the transport protocol of the face), the
check that a transport is a byte stream of the right face, the name of a
stream in error messages, the timeout error of a framed read, the budget
that spreads one timeout over the receives of a message on a transport that
is not one of ours, and the plan of the sends of one frame on such a
transport.
"""

from __future__ import annotations

import errno
import functools
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from transports._core.deadline import Deadline
from transports._core.owner import SocketOwner
from transports.errors import TransportTimeout
from transports.framing.codec import DEFAULT_MAX_LINE, DEFAULT_MAX_SIZE, Codec, LineCodec, MessageCodec

__all__ = [
    "JOIN_BELOW",
    "Framing",
    "LineFraming",
    "MessageFraming",
    "TimeoutBudget",
    "check_stream",
    "describe",
    "is_async",
    "listed",
    "send_plan",
    "timed_out",
    "unsent",
]

StreamT = TypeVar("StreamT")
_C = TypeVar("_C", bound=type)

# A transport that is not one of ours has no gather write: parts up to this
# size are joined so the header never leaves alone (a lone small segment can
# wait for a delayed ACK under Nagle's algorithm).
JOIN_BELOW = 64 * 1024


def describe(transport: object) -> str:
    """A name for *transport* in error messages: its URL when it is one of ours (either face)."""
    owner = transport if isinstance(transport, SocketOwner) else getattr(transport, "_sync", None)
    if isinstance(owner, SocketOwner):
        return owner._where()
    try:
        peer = getattr(transport, "remote_address", None)
    except OSError:
        peer = None
    return f"{type(transport).__name__} to {peer}" if peer is not None else repr(transport)


def is_async(transport: object) -> bool:
    """Whether *transport* is of the async face: it closes with ``async with`` (:apue:`16.8`)."""
    return hasattr(type(transport), "__aenter__")


def check_stream(owner: str, transport: object, protocol: type[Any], *, async_face: bool) -> Any:
    """*transport* if it is a *protocol* byte stream; else a TypeError saying which stream to use instead."""
    if isinstance(transport, protocol):
        return transport
    if is_async(transport) and not async_face:
        raise TypeError(
            f"{owner} needs a sync byte-stream transport, and {transport!r} is an async transport: "
            f"use transports.aio.{owner} over it (await send_message and recv_message)"
        )
    if async_face and hasattr(type(transport), "__enter__") and not is_async(transport):
        raise TypeError(
            f"aio.{owner} needs an async byte-stream transport, and {transport!r} is a sync transport: "
            f"use transports.{owner} over it, or open the transport with transports.aio"
        )
    raise TypeError(
        f"{owner} needs a byte-stream transport (TCP or Unix stream), got {transport!r}; "
        "datagram and seqpacket transports keep message boundaries already: send one "
        "message per send"
    )


def timed_out(op: str, where: str, progress: str, timeout: float | None) -> TransportTimeout:
    """The error of a framed *op* whose timeout ran out *progress* (how far the message got)."""
    limit = f"timeout of {timeout:g} s" if timeout is not None else "timeout"
    return TransportTimeout(
        f"{op} {where}: timed out {progress} ({limit}); what arrived is kept: call {op} "
        "again to go on, or raise the timeout",
        errno=errno.ETIMEDOUT,
        op=op,
        address=where,
    )


def send_plan(parts: Sequence[memoryview], total: int) -> Sequence[Any]:
    """The ``send_all`` calls of one frame over a transport without gather writes: joined when small."""
    return [b"".join(parts)] if total < JOIN_BELOW else parts


class TimeoutBudget:
    """One timeout spread over the receives of one framed read (:apue:`14.7`).

    The first receive waits with the transport's timeout as it is
    (:meth:`start`, then count it in ``calls``); before each later one, on
    a transport that is not one of ours, :meth:`next_call` sets the
    transport's timeout to what is left of it (TimeoutError once it is
    spent), and :meth:`restore` puts it back.
    """

    __slots__ = ("_shrunk", "_timeout", "_transport", "calls", "deadline")

    def __init__(self, transport: Any) -> None:
        self._transport = transport
        #: Receives made so far.
        self.calls = 0
        self._shrunk = False
        self._timeout: float | None = None
        #: The deadline of the whole read, once :meth:`start` set it (None: no limit, or timeout 0).
        self.deadline: Deadline | None = None

    def start(self) -> None:
        """Before the first receive: read the timeout and start the clock."""
        self._timeout = timeout = self._transport.timeout
        # A timeout of 0 (non-blocking) needs no deadline: each call fails fast.
        self.deadline = Deadline(timeout) if timeout else None

    def next_call(self) -> None:
        """Before a later receive: the transport's timeout becomes what is left."""
        if self.deadline is None:
            return
        left = self.deadline.left()
        if not left:
            raise TimeoutError("timed out")
        self._transport.timeout = left
        self._shrunk = True

    def restore(self) -> None:
        """Put back the timeout :meth:`next_call` changed."""
        if self._shrunk and not self._transport.closed:
            self._transport.timeout = self._timeout

    @property
    def timeout(self) -> float | None:
        """The timeout that was set before the first receive."""
        return self._timeout if self.calls else self._transport.timeout


class Framing(Generic[StreamT]):
    """A codec over a byte stream of one face, the part that never waits (:apue:`16.5`)."""

    __slots__ = ("_codec", "_transport")

    _codec: Codec
    _transport: StreamT

    @property
    def transport(self) -> StreamT:
        """The byte stream the messages travel over."""
        return self._transport

    def _accept(self, owner: str, transport: object) -> StreamT:
        """*transport* if it is a byte stream of this face, else TypeError."""
        raise NotImplementedError

    def _setup(self, transport: StreamT, codec: Codec) -> None:
        self._transport = transport
        self._codec = codec

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._describe()} over {self._transport!r}>"

    def _describe(self) -> str:
        raise NotImplementedError


class MessageFraming(Framing[StreamT]):
    """The never-waiting part of a length-prefixed message stream (:apue:`16.5`, :apue:`16.3.1`)."""

    __slots__ = ()

    _codec: MessageCodec

    def __init__(self, transport: StreamT, *, max_size: int = DEFAULT_MAX_SIZE) -> None:
        """Frame messages over *transport*, each at most *max_size* bytes."""
        transport = self._accept("MessageStream", transport)
        self._setup(transport, MessageCodec(max_size, where=functools.partial(describe, transport)))

    @property
    def max_size(self) -> int:
        """The largest message this stream sends or accepts, in bytes."""
        return self._codec.limit

    def _describe(self) -> str:
        return f"max_size={self._codec.limit}"


class LineFraming(Framing[StreamT]):
    """The never-waiting part of a line stream (:apue:`16.5`)."""

    __slots__ = ()

    _codec: LineCodec

    def __init__(
        self,
        transport: StreamT,
        *,
        delimiter: bytes = b"\n",
        max_length: int = DEFAULT_MAX_LINE,
    ) -> None:
        """Split the bytes of *transport* at *delimiter*; a line holds at most *max_length* bytes."""
        transport = self._accept("LineStream", transport)
        codec = LineCodec(delimiter, max_length, where=functools.partial(describe, transport))
        self._setup(transport, codec)

    @property
    def delimiter(self) -> bytes:
        """What ends each line."""
        return self._codec.delimiter

    @property
    def max_length(self) -> int:
        """The longest line, delimiter excluded, this stream sends or accepts."""
        return self._codec.limit

    @property
    def buffered(self) -> bytes:
        """Bytes received after the last line returned: read them before using the transport directly."""
        return self._codec.buffered

    def _describe(self) -> str:
        return f"delimiter={self._codec.delimiter!r} max_length={self._codec.limit}"


def listed(*names: str) -> Callable[[_C], _C]:
    """Put the members *names* of a class's bases in its own namespace, so its docs list them too."""

    def put(cls: _C) -> _C:
        for name in names:
            for base in cls.__mro__[1:]:
                if name in vars(base):
                    setattr(cls, name, vars(base)[name])
                    break
        return cls

    return put


def unsent(parts: Sequence[memoryview], sent: int) -> list[memoryview]:
    """What is left of *parts* once *sent* bytes of them went out."""
    rest: list[memoryview] = []
    for part in parts:
        if sent >= len(part):
            sent -= len(part)
            continue
        rest.append(part[sent:] if sent else part)
        sent = 0
    return rest
