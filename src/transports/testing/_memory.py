"""What the in-memory transports of both faces share: names, bounded buffers, operations, waiting (:apue:`16.5`).

:class:`Names` is the table of names in use under one scheme (listeners of
``memory://``, endpoints of ``memorygram://``); :func:`failure` builds their
errors; a :class:`Direction` is one way of a stream (bytes, a capacity, end
of stream); :class:`Collected` and :class:`Filled` are where a receive puts
what it takes (a new ``bytes``, or the caller's buffer); :class:`MemoryBase`
holds what every end and listener has (a :class:`Gate`, ``closed``,
``timeout``, the local address, the decision whether a call may wait).

Every operation that may wait is written once, as a generator (an
:data:`Op`) that yields a :data:`Wait` -- a gate and what to wait for -- and
goes on, holding that gate's lock, once it is ready. The two faces differ only
in the driver: :func:`run` waits on the gate's condition variable (threads),
:func:`transports.testing.aio_memory.run_async` on a future the gate settles
(tasks). One gate wakes both, so a sync end and an async end can share a
connection or a name. The internal API of :mod:`transports.testing.memory`,
:mod:`transports.testing.memorygram` and :mod:`transports.testing.aio_memory`.
"""

from __future__ import annotations

import errno
import io
import threading
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, ClassVar, Generic, Protocol, TypeAlias, TypeVar

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

if TYPE_CHECKING:
    import asyncio

#: Bytes a memory stream direction or a datagram endpoint buffers before senders wait
#: (public as :data:`transports.testing.memory.DEFAULT_CAPACITY`).
CAPACITY = 256 * 1024


E = TypeVar("E", bound=TransportError)
OwnerT = TypeVar("OwnerT")
T = TypeVar("T")


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


class Gate:
    """One lock over some shared memory state, and everyone waiting for it to change: threads and tasks (:apue:`14.4`, :apue:`16.8`).

    Threads wait on :attr:`cond`; tasks on a future from :meth:`waiter`.
    Whoever changes the state calls :meth:`notify`, holding the lock, and
    wakes both: a task of another thread's loop through
    ``call_soon_threadsafe``, one of this thread's loop directly.
    """

    __slots__ = ("_tasks", "cond")

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self._tasks: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def notify(self) -> None:
        """Wake every thread and task waiting on this gate (call holding :attr:`cond`)."""
        self.cond.notify_all()
        if self._tasks:
            import asyncio  # loaded already: a task is waiting

            tasks, self._tasks = self._tasks, []
            try:
                here: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
            except RuntimeError:
                here = None
            for loop, future in tasks:
                if loop is here:
                    settle(future)
                elif not loop.is_closed():
                    loop.call_soon_threadsafe(settle, future)

    def waiter(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
        """A future of *loop* that the next :meth:`notify` settles (call holding :attr:`cond`)."""
        future: asyncio.Future[None] = loop.create_future()
        self._tasks.append((loop, future))
        return future

    def forget(self, future: asyncio.Future[None]) -> None:
        """Stop waking *future* (its task stopped waiting; call holding :attr:`cond`)."""
        self._tasks = [(loop, f) for loop, f in self._tasks if f is not future]


def settle(future: asyncio.Future[None]) -> None:
    """Wake the task awaiting *future*, unless it stopped waiting already."""
    if not future.done():
        future.set_result(None)


#: What an operation waits for, as a plain tuple (made on every call that may wait):
#: ``(gate, ready, deadline, nowait, op)`` -- ``ready()``, checked holding *gate*'s lock, within
#: *deadline*; with *nowait* it may not wait at all; *op* names the call in errors (:apue:`14.4`).
Wait: TypeAlias = tuple[Gate, Callable[[], bool], Deadline, bool, str]


#: An operation written once for both faces: it yields each :data:`Wait` and, resumed
#: holding that wait's gate (or with the error that ended the wait thrown in), goes on.
Op: TypeAlias = Generator[Wait, None, T]


class MemoryBase:
    """What every memory end and listener shares, on both faces: timeout, closing, deciding whether to wait (:apue:`16.5`).

    Each face adds its context manager (``with`` or ``async with``), so that
    an end satisfies the protocols of its own face only.
    """

    network: ClassVar[str]
    _kind: ClassVar[Kind]
    _send_allowed: ClassVar[int]
    _recv_allowed: ClassVar[int]

    def __init__(self, gate: Gate, local: NamedAddress) -> None:
        self._gate = gate
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

    def _timed_out(self, wait: Wait) -> TransportTimeout:
        _, _, deadline, _, op = wait
        problem = f"timed out (timeout of {deadline.timeout:g} s); raise the timeout or check the peer"
        return failure(TransportTimeout, errno.ETIMEDOUT, op, self._where(), problem)

    def _must_wait(self, wait: Wait) -> tuple[bool, float | None]:
        """Whether *wait* must go on waiting, and for how long at most (None: no limit).

        Call holding the gate. Raises what ends the wait: TransportClosed,
        WouldBlock (no waiting allowed), TransportTimeout (the deadline passed).
        """
        _, ready, deadline, nowait, op = wait
        if self._closed:  # first: once closed, nothing more is handed out or taken
            raise self._closed_error(op)
        if ready():
            return False, None
        if nowait or deadline.timeout == 0:
            problem = "nothing can be done without blocking now; retry later"
            raise failure(WouldBlock, errno.EAGAIN, op, self._where(), problem)
        left = deadline.left()
        if left == 0:
            raise self._timed_out(wait)
        return True, left

    def __repr__(self) -> str:
        state = "closed" if self._closed else self._where()
        return f"<{type(self).__name__} {state}>"


def run(end: MemoryBase, op: Op[T]) -> T:
    """Drive *op* on the sync face: each wait on its gate's condition variable, in this thread (:apue:`16.5`)."""
    try:
        wait = next(op)
        while True:
            cond = wait[0].cond
            with cond:
                try:
                    while True:
                        waiting, left = end._must_wait(wait)
                        if not waiting:
                            break
                        cond.wait(left)
                except BaseException as exc:
                    wait = op.throw(exc)
                else:
                    wait = op.send(None)
    except StopIteration as stop:
        result: T = stop.value
        return result
