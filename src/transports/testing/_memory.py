"""What the in-memory transports share: names, bounded buffers and the base of an end (:apue:`16.5`).

:class:`Names` is the table of names in use under one scheme (listeners of
``memory://``, endpoints of ``memorygram://``); :func:`failure` builds their
errors; a :class:`Direction` is one way of a stream (bytes, a capacity, end
of stream); :class:`Collected` and :class:`Filled` are where a receive puts
what it takes (a new ``bytes``, or the caller's buffer); :class:`MemoryBase`
holds what every end and listener has (a condition variable, ``closed``,
``timeout``, the local address, waiting with a deadline). The internal API
of :mod:`transports.testing.memory` and :mod:`transports.testing.memorygram`.
"""

from __future__ import annotations

import errno
import io
import threading
from collections.abc import Callable
from typing import ClassVar, Generic, Protocol, TypeVar

from transports._closing import CloseOnExit
from transports._core.deadline import Deadline
from transports._core.validate import check_timeout
from transports.addresses import NamedAddress
from transports.errors import (
    AddressInUse,
    ConnectionRefused,
    TransportClosed,
    TransportError,
    TransportTimeout,
    WouldBlock,
)
from transports.kinds import Kind
from transports.urls import parse_named_url

#: Bytes a memory stream direction or a datagram endpoint buffers before senders wait
#: (public as :data:`transports.testing.memory.DEFAULT_CAPACITY`).
CAPACITY = 256 * 1024


E = TypeVar("E", bound=TransportError)
OwnerT = TypeVar("OwnerT")


def name_of(url_or_name: str | NamedAddress, scheme: str) -> str:
    if isinstance(url_or_name, NamedAddress):
        return url_or_name.name
    return parse_named_url(url_or_name, scheme).name


def failure(cls: type[E], code: int, op: str, where: str, problem: str) -> E:
    """*cls* with the message ``"<op> <where>: <problem>"``; *op* may be a phrase (``"connect to"``)."""
    return cls(f"{op} {where}: {problem}", errno=code, op=op, address=where)


class Names(Generic[OwnerT]):
    """The names in use under one scheme, each with its owner: what ``connect`` and ``send_to`` find."""

    def __init__(self, scheme: str, owner: str) -> None:
        self._scheme = scheme
        self._owner = owner  # what owns a name, for messages: "memory listener"
        self._lock = threading.Lock()
        self._owners: dict[str, OwnerT] = {}

    def claim(self, name: str, owner: OwnerT, op: str) -> None:
        """Give *name* to *owner*, or raise AddressInUse."""
        with self._lock:
            if name not in self._owners:
                self._owners[name] = owner
                return
        problem = f"another {self._owner} has that name; choose another or close the first"
        raise failure(AddressInUse, errno.EADDRINUSE, op, f"{self._scheme}://{name}", problem)

    def release(self, name: str, owner: OwnerT) -> None:
        """Free *name*, if *owner* still holds it."""
        with self._lock:
            if self._owners.get(name) is owner:
                del self._owners[name]

    def find(self, name: str, op: str, hint: str) -> OwnerT:
        """The owner of *name*, or ConnectionRefused saying no such owner exists, then *hint*."""
        with self._lock:
            owner = self._owners.get(name)
        if owner is None:
            problem = f"no {self._owner} has that name; {hint}"
            raise failure(ConnectionRefused, errno.ECONNREFUSED, op, f"{self._scheme}://{name}", problem)
        return owner


class Sink(Protocol):
    """Where a stream receive puts the bytes it takes."""

    def put(self, piece: bytearray) -> None: ...

    def taken(self) -> bytes: ...


class Collected:
    """A sink that grows with what it is given (recv, recv_exactly): never with the size asked for."""

    __slots__ = ("_data",)

    def __init__(self) -> None:
        self._data = bytearray()

    def put(self, piece: bytearray) -> None:
        if self._data:
            self._data += piece
        else:
            self._data = piece  # a fresh copy already: keep it instead of copying again

    def taken(self) -> bytes:
        return bytes(self._data)

    def __len__(self) -> int:
        return len(self._data)


class Filled:
    """A sink that is the caller's buffer (recv_into), filled from the start."""

    __slots__ = ("_count", "_view")

    def __init__(self, view: memoryview) -> None:
        self._view = view
        self._count = 0

    def put(self, piece: bytearray) -> None:
        self._view[self._count : self._count + len(piece)] = piece
        self._count += len(piece)

    def taken(self) -> bytes:
        return bytes(self._view[: self._count])


class Direction:
    """The bytes travelling one way through a memory stream."""

    __slots__ = ("buffer", "capacity", "reader_gone", "writer_done")

    def __init__(self, capacity: int) -> None:
        self.buffer = bytearray()
        self.capacity = capacity
        self.writer_done = False  # shutdown("write") or close by the writer: EOF after the buffer
        self.reader_gone = False  # the reader closed: sending is a broken pipe


class MemoryBase(CloseOnExit):
    """What every memory end and listener shares: timeout, closing, waiting under one condition."""

    network: ClassVar[str]
    _kind: ClassVar[Kind]
    _send_allowed: ClassVar[int]
    _recv_allowed: ClassVar[int]

    def __init__(self, cond: threading.Condition, local: NamedAddress) -> None:
        self._cond = cond
        self._local = local
        self._closed = False
        self._timeout: float | None = None

    @property
    def kind(self) -> Kind:
        """Stream or datagram."""
        return self._kind

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._closed

    @property
    def timeout(self) -> float | None:
        """Seconds a blocking call may wait; None forever, 0 never."""
        return self._timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        if self._closed:
            raise self._closed_error("set timeout on")
        self._timeout = check_timeout(value)

    @property
    def local_address(self) -> NamedAddress:
        """This end's name."""
        return self._local

    def fileno(self) -> int:
        """Memory transports have no descriptor: raises :class:`io.UnsupportedOperation`."""
        raise io.UnsupportedOperation(f"{self._where()} is in memory and has no file descriptor")

    def _where(self) -> str:
        return self._local.url(self.network)

    def _closed_error(self, op: str) -> TransportClosed:
        return failure(TransportClosed, errno.EBADF, op, self._where(), "it is closed; open a new one")

    def _wait(
        self,
        ready: Callable[[], bool],
        deadline: Deadline,
        nowait: bool,
        op: str,
        cond: threading.Condition | None = None,
    ) -> None:
        """Wait (holding *cond*, ours by default) until *ready*; WouldBlock or TransportTimeout otherwise."""
        while True:
            if self._closed:  # first: once closed, nothing more is handed out or taken
                raise self._closed_error(op)
            if ready():
                return
            if nowait or deadline.timeout == 0:
                problem = "nothing can be done without blocking now; retry later"
                raise failure(WouldBlock, errno.EAGAIN, op, self._where(), problem)
            left = deadline.left()
            if left == 0:
                problem = (
                    f"timed out (timeout of {deadline.timeout:g} s); raise the timeout or check the peer"
                )
                raise failure(TransportTimeout, errno.ETIMEDOUT, op, self._where(), problem)
            (cond or self._cond).wait(left)

    def __repr__(self) -> str:
        state = "closed" if self._closed else self._where()
        return f"<{type(self).__name__} {state}>"
