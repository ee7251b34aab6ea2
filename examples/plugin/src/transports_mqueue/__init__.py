"""POSIX message queues as a typed-transports scheme, ``mqueue:///name`` (APUE 15.7 Message Queues).

A message queue keeps whole messages, in order, until someone reads them.
APUE 15.7 describes the XSI flavour (``msgget``/``msgsnd``/``msgrcv``);
POSIX queues, used here through the ``posix_ipc`` package, are the same idea
with names. A queue goes one way, so a connection is two of them:
``bind("mqueue:///jobs")`` creates ``/jobs.in`` and ``/jobs.out`` and holds
the server end; ``connect("mqueue:///jobs")`` opens them from the other side.
Installing this package registers the scheme through the
``transports.schemes`` entry point::

    server = transports.bind("mqueue:///jobs", timeout=5)
    client = transports.connect("mqueue:///jobs", timeout=5)
    client.send(b"job 1")
    server.recv(8192)  # b"job 1"

Both ends are :class:`transports.Transport` objects of kind DATAGRAM: one
send is one receive; a receive buffer too small for the message raises
:class:`~transports.MessageTruncated` (``posix_ipc`` always hands over the
whole message, so the check is ours); a send above ``max_message_size``
raises :class:`~transports.MessageTooLarge`; timeouts and
``RecvFlags.DONTWAIT`` work; ``RecvFlags.PEEK`` is refused (a queue cannot
peek). The server end removes the queues when it closes.

Closing from another thread: ``mq_close`` does not wake a thread blocked in
``mq_receive`` (it goes on waiting, and then takes the next message), and a
descriptor closed while another thread still uses it may be reused by the
next ``open``. So no call here blocks inside the queue. Both queues are
opened ``O_NONBLOCK``, and a call that has to wait polls the queue's
descriptor (on Linux an ``mqd_t`` is a file descriptor: POLLIN means a
message is there, POLLOUT that there is room) together with a wake pipe.
:meth:`MQueueTransport.close` writes to that pipe, which wakes every waiting
call with :class:`~transports.TransportClosed`, and the last call to leave
closes the descriptors. Linux only, for that reason: macOS has no POSIX
message queues, and on the BSDs the ``mqd`` that ``posix_ipc`` hands out is
not a descriptor ``poll()`` accepts.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import math
import os
import select
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import NoReturn, Self, TypeVar

import posix_ipc
from typing_extensions import Buffer

from transports import (
    AddressError,
    Kind,
    MessageTooLarge,
    MessageTruncated,
    NamedAddress,
    OpenArgs,
    RecvFlags,
    SendFlags,
    TransportClosed,
    TransportError,
    TransportTimeout,
    UnsupportedOption,
    WouldBlock,
)
from transports.addresses import Address
from transports.flags import check_flags
from transports.protocols import WritableBuffer

__all__ = ["SCHEME", "AsyncMQueueScheme", "AsyncMQueueTransport", "MQueueScheme", "MQueueTransport"]

# What a queue can honour: not waiting. There is no out-of-band data, no
# routing, no record mark, and mq_receive cannot peek.
_SEND_ALLOWED = int(SendFlags.DONTWAIT | SendFlags.NOSIGNAL)
_RECV_ALLOWED = int(RecvFlags.DONTWAIT)

R = TypeVar("R")


def queue_name(url: str) -> str:
    """The queue name in an ``mqueue:`` URL: ``mqueue:///jobs`` and ``mqueue://jobs`` both give ``/jobs``."""
    scheme, _, rest = url.partition(":")
    name = rest.removeprefix("//").removeprefix("/")
    if scheme.lower() != "mqueue" or not name or "/" in name or len(name) > 250:
        raise AddressError(f"{url!r} is not a message queue URL like mqueue:///name (one name, no slashes)")
    return f"/{name}"


def _require_linux(op: str, name: str) -> None:
    """Refuse, with a clear error, where close() could not wake a blocked call (see the module docstring)."""
    if not sys.platform.startswith("linux"):
        raise TransportError(
            f"{op} mqueue://{name}: mqueue transports need Linux, where a queue's descriptor can be "
            f"polled (close() relies on that to wake a blocked call), and this is {sys.platform}; "
            "use a unixgram:// transport here",
            errno=errno.ENOSYS,
            op=op,
            address=f"mqueue://{name}",
        )


def _discard(queues: Iterable[posix_ipc.MessageQueue], *, unlink: bool) -> None:
    """Close *queues*, and remove their names first if *unlink* (the creator's duty)."""
    for queue in queues:
        if unlink:
            with contextlib.suppress(posix_ipc.ExistentialError):
                queue.unlink()
        queue.close()


class MQueueTransport:
    """One end of a two-queue connection (APUE 15.7 Message Queues).

    Make ends with :meth:`bind` (the server: creates the queues) and
    :meth:`connect` (the client: opens them), or through the URLs. An end may
    be shared by threads; :meth:`close` wakes the calls that wait.
    """

    def __init__(
        self,
        name: str,
        incoming: posix_ipc.MessageQueue,
        outgoing: posix_ipc.MessageQueue,
        *,
        owner: bool,
        timeout: float | None,
    ) -> None:
        """Take over two queues opened ``O_NONBLOCK``; on failure they are closed (and removed if *owner*)."""
        self._name = name
        self._in = incoming
        self._out = outgoing
        self._owner = owner
        # The lock guards _closed and _calls, and every try at a queue: see _transfer().
        self._lock = threading.Lock()
        self._closed = True  # until the end is complete: __del__ then has nothing to do
        self._calls = 0
        self._pid = os.getpid()
        try:
            self._max_size = outgoing.max_message_size
            self.timeout = timeout
            # close() writes to the pipe to wake the calls that wait (Python makes it close-on-exec).
            self._wake_r, self._wake_w = os.pipe()
        except BaseException:
            _discard((incoming, outgoing), unlink=owner)
            raise
        self._closed = False

    @classmethod
    def bind(
        cls,
        name: str,
        *,
        timeout: float | None = None,
        mode: int = 0o600,
        max_messages: int = 10,
        max_message_size: int = 8192,
    ) -> Self:
        """Create the queues ``name.in`` and ``name.out`` (they must not exist) and return the server end."""
        _require_linux("bind", name)
        made: list[posix_ipc.MessageQueue] = []
        try:
            for suffix in (".in", ".out"):
                made.append(
                    posix_ipc.MessageQueue(
                        name + suffix,
                        posix_ipc.O_CREX | posix_ipc.O_NONBLOCK,
                        mode,
                        max_messages,
                        max_message_size,
                    )
                )
        except posix_ipc.Error as exc:
            _discard(made, unlink=True)
            raise TransportError(
                f"bind mqueue://{name}: {exc}; is another server bound there?",
                errno=errno.EEXIST if isinstance(exc, posix_ipc.ExistentialError) else None,
                op="bind",
                address=f"mqueue://{name}",
            ) from exc
        return cls(name, made[0], made[1], owner=True, timeout=timeout)

    @classmethod
    def connect(cls, name: str, *, timeout: float | None = None) -> Self:
        """Open the queues of the server bound at *name*; return the client end."""
        _require_linux("connect", name)
        try:
            to_server = posix_ipc.MessageQueue(name + ".in", posix_ipc.O_NONBLOCK)
        except posix_ipc.Error as exc:
            raise TransportError(
                f"connect mqueue://{name}: {exc}; is a server bound there?",
                errno=errno.ENOENT,
                op="connect",
                address=f"mqueue://{name}",
            ) from exc
        try:
            from_server = posix_ipc.MessageQueue(name + ".out", posix_ipc.O_NONBLOCK)
        except posix_ipc.Error as exc:
            to_server.close()
            raise TransportError(
                f"connect mqueue://{name}: {exc}", op="connect", address=f"mqueue://{name}"
            ) from exc
        return cls(name, from_server, to_server, owner=False, timeout=timeout)

    # -- what every transport has ---------------------------------------------------------

    @property
    def kind(self) -> Kind:
        """DATAGRAM: whole messages, no connection state to end."""
        return Kind.DATAGRAM

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._closed

    @property
    def timeout(self) -> float | None:
        """Seconds a send or receive may wait; None forever, 0 never."""
        return self._timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        if value is not None and not value >= 0:
            raise ValueError(f"timeout must be >= 0 seconds or None, got {value!r}")
        self._timeout = None if value is None else float(value)

    @property
    def local_address(self) -> NamedAddress:
        """The connection's name, e.g. ``mqueue:///jobs``."""
        return NamedAddress("mqueue", self._name)

    @property
    def remote_address(self) -> NamedAddress:
        """The same name: both ends share the two queues."""
        return NamedAddress("mqueue", self._name)

    @property
    def max_message_size(self) -> int:
        """The largest message the outgoing queue accepts (its ``mq_msgsize``)."""
        return self._max_size

    def fileno(self) -> int:
        """The incoming queue's descriptor, which polls readable when a message is there; -1 once closed.

        Do not read from it or close it: use :meth:`recv` and :meth:`close`.
        """
        return -1 if self._closed else self._in.mqd

    def send(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> int:
        """Put one message on the outgoing queue; return its length."""
        check_flags(flags, SendFlags, _SEND_ALLOWED, "mqueue")
        with memoryview(data) as view:
            message = view.tobytes()
        if len(message) > self._max_size:
            raise MessageTooLarge(
                f"send {self._url}: a {len(message)}-byte message is larger than the queue's "
                f"limit of {self._max_size} bytes; nothing was sent",
                size=len(message),
                limit=self._max_size,
                op="send",
                address=self._url,
            )
        self._transfer("send", flags, self._out, select.POLLOUT, lambda: self._out.send(message))
        return len(message)

    def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        """Take one message; MessageTruncated if it is longer than *max_bytes*.

        Memory does not follow *max_bytes*: a receive takes at most the
        queue's ``mq_msgsize``, however much is asked for.
        """
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        message = self._receive(flags, "recv")
        if len(message) > max_bytes:
            raise self._truncated("recv", message, max_bytes)
        return message

    def recv_into(self, buffer: WritableBuffer, nbytes: int = 0, flags: RecvFlags = RecvFlags.NONE) -> int:
        """Take one message into *buffer*; MessageTruncated (with the part that fitted stored) if it is longer."""
        with memoryview(buffer) as whole, whole.cast("B") as view:
            if not 0 <= nbytes <= len(view):
                raise ValueError(f"nbytes must be 0..{len(view)} (the buffer's size), got {nbytes}")
            room = nbytes or len(view)
            message = self._receive(flags, "recv_into")
            count = min(len(message), room)
            view[:count] = message[:count]
        if len(message) > room:
            raise self._truncated("recv_into", message, room)
        return count

    def close(self) -> None:
        """Close both queues; the server end also removes them. Closing again does nothing.

        A call waiting in another thread wakes at once with TransportClosed,
        and nothing that arrives later is handed out. The descriptors stay
        open until the last call in flight has left (a descriptor closed under
        a running call could be reused by the next ``open``), and that call
        closes them. After ``fork()``, closing one process's copy leaves the
        other's working: only the process that created the queues removes them.
        """
        with self._lock:
            self._after_fork()
            if self._closed:
                return
            self._closed = True
            if self._owner:  # the names go now, so that a new server can bind at once
                for queue in (self._in, self._out):
                    with contextlib.suppress(posix_ipc.ExistentialError):
                        queue.unlink()
            if self._calls:
                os.write(self._wake_w, b"!")  # poll() in every waiting call returns
            else:
                self._release()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # Like a socket: an end nobody closed says so, then gives its descriptors back.
        if getattr(self, "_closed", True):
            return
        warnings.warn(
            f"unclosed {self!r}: close it, or use it in a with-block",
            ResourceWarning,
            stacklevel=2,
            source=self,
        )
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("server" if self._owner else "client")
        return f"<MQueueTransport {self._url} {state}>"

    # -- helpers ------------------------------------------------------------------------------

    @property
    def _url(self) -> str:
        return f"mqueue://{self._name}"

    def _receive(self, flags: RecvFlags, op: str) -> bytes:
        check_flags(flags, RecvFlags, _RECV_ALLOWED, "mqueue")
        message, _priority = self._transfer(op, flags, self._in, select.POLLIN, self._in.receive)
        return message

    def _transfer(
        self,
        op: str,
        flags: SendFlags | RecvFlags,
        queue: posix_ipc.MessageQueue,
        ready: int,
        attempt: Callable[[], R],
    ) -> R:
        """Run *attempt*, a non-blocking ``mq_send`` or ``mq_receive`` on *queue*, until it succeeds.

        Each try runs under the lock, right after a look at ``closed``; close()
        takes the lock too, so once it has begun nothing more is taken from a
        queue or put on one. When the queue is empty (or full) the call polls
        the queue for *ready* (POLLIN or POLLOUT) and the wake pipe together,
        then tries again; another thread may have been quicker, so a try can
        find nothing again. While it waits it counts in ``_calls``: close()
        leaves the descriptors open for it, and the last call out closes them.
        """
        wait = self._wait(flags)
        deadline = None if wait is None else time.monotonic() + wait
        with self._lock:
            if self._closed:
                raise self._closed_error(op)
            try:
                return attempt()  # the common case: no waiting
            except posix_ipc.BusyError:  # EAGAIN: the queue is empty, or full
                self._enter()
        try:
            while True:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    self._busy(op, wait)
                poller = select.poll()
                poller.register(queue.mqd, ready)
                poller.register(self._wake_r, select.POLLIN)
                poller.poll(None if left is None else math.ceil(left * 1000))
                with self._lock:
                    if self._closed:
                        raise self._closed_error(op)
                    with contextlib.suppress(posix_ipc.BusyError):
                        return attempt()
        finally:
            self._leave()

    def _enter(self) -> None:
        """Under the lock: a call is about to wait; count it as in flight until :meth:`_leave`."""
        self._after_fork()
        self._calls += 1

    def _leave(self) -> None:
        """A call that waited ends: the last one out after close() closes the descriptors."""
        with self._lock:
            self._calls -= 1
            if self._closed and not self._calls:
                self._release()

    def _release(self) -> None:
        """Close the queue descriptors and the wake pipe: after close(), once no call is in flight."""
        _discard((self._in, self._out), unlink=False)
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _after_fork(self) -> None:
        """In a child of fork(), under the lock: a wake pipe of its own, and the queues left to their creator.

        The pipe came from the parent, so a byte the child's close() wrote would
        keep waking the parent's calls (which would spin, as their end is not
        closed); the parent's calls in flight did not come along; and only the
        process that created the queues removes them.
        """
        if self._pid == os.getpid():
            return
        if not self._closed:
            os.close(self._wake_r)
            os.close(self._wake_w)
            self._wake_r, self._wake_w = os.pipe()
        self._pid = os.getpid()
        self._calls = 0
        self._owner = False

    def _wait(self, flags: SendFlags | RecvFlags) -> float | None:
        """How long a call may wait: 0 never, None forever."""
        return 0 if int(flags) & (int(SendFlags.DONTWAIT) | int(RecvFlags.DONTWAIT)) else self._timeout

    def _closed_error(self, op: str) -> TransportClosed:
        return TransportClosed(
            f"{op} {self._url}: the transport was closed (by close(), perhaps in another thread) "
            "before or while this call waited; nothing that arrived after the close is handed out; "
            "open a new one",
            errno=errno.EBADF,
            op=op,
            address=self._url,
        )

    def _busy(self, op: str, wait: float | None) -> NoReturn:
        """The queue stayed empty (or full): WouldBlock if the call could not wait, TransportTimeout if it did."""
        why = "the queue is full" if op == "send" else "no message came"
        if wait == 0:
            raise WouldBlock(
                f"{op} {self._url}: {why} and the call may not wait",
                errno=errno.EAGAIN,
                op=op,
                address=self._url,
            )
        raise TransportTimeout(
            f"{op} {self._url}: {why} within the timeout of {wait} s",
            errno=errno.ETIMEDOUT,
            op=op,
            address=self._url,
        )

    def _truncated(self, op: str, message: bytes, room: int) -> MessageTruncated:
        return MessageTruncated(
            f"{op} {self._url}: a {len(message)}-byte message did not fit the {room}-byte buffer; "
            "the first part is in .data, the rest is gone; receive with max_message_size bytes",
            data=message[:room],
            size=len(message),
            op=op,
            address=self._url,
        )


class AsyncMQueueTransport:
    """The :mod:`transports.aio` face of one queue end (APUE 15.7 Message Queues, 14.4 I/O Multiplexing).

    It wraps an :class:`MQueueTransport` and calls it with ``DONTWAIT``
    only, so no call blocks the event loop; when a queue is empty (or full)
    the call waits for the queue's descriptor with the loop
    (``add_reader``/``add_writer``) and tries again. One task at a time
    waits on each queue (calls in the same direction take turns).
    :meth:`close` wakes a waiting call with TransportClosed.
    """

    def __init__(self, end: MQueueTransport) -> None:
        self._end = end
        self._turns = {"recv": asyncio.Lock(), "send": asyncio.Lock()}
        #: The future each waiting call awaits, with its descriptor and direction.
        self._waiting: dict[asyncio.Future[None], tuple[int, bool, str]] = {}

    @property
    def kind(self) -> Kind:
        """Always DATAGRAM."""
        return self._end.kind

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._end.closed

    @property
    def timeout(self) -> float | None:
        """How long a call may wait: None forever, 0 never (as the sync end)."""
        return self._end.timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self._end.timeout = value

    @property
    def local_address(self) -> Address:
        """``mqueue:///name``."""
        return self._end.local_address

    @property
    def remote_address(self) -> Address | None:
        """The same name: both ends share the queues."""
        return self._end.remote_address

    @property
    def max_message_size(self) -> int:
        """The largest message the outgoing queue takes."""
        return self._end.max_message_size

    def fileno(self) -> int:
        """The incoming queue's descriptor."""
        return self._end.fileno()

    async def send(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> int:
        """Put one message on the outgoing queue, waiting for room; return its length."""
        return await self._call("send", flags, lambda: self._end.send(data, flags | SendFlags.DONTWAIT))

    async def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        """Take one message, waiting for one; MessageTruncated if it is longer than *max_bytes*."""
        return await self._call("recv", flags, lambda: self._end.recv(max_bytes, flags | RecvFlags.DONTWAIT))

    async def recv_into(
        self, buffer: WritableBuffer, nbytes: int = 0, flags: RecvFlags = RecvFlags.NONE
    ) -> int:
        """Take one message into *buffer*, waiting for one; MessageTruncated if it is longer."""
        return await self._call(
            "recv", flags, lambda: self._end.recv_into(buffer, nbytes, flags | RecvFlags.DONTWAIT)
        )

    def close(self) -> None:
        """Close the end (the server end removes the queues); a waiting call wakes with TransportClosed."""
        for future, (fd, writing, op) in self._waiting.items():
            loop = future.get_loop()
            (loop.remove_writer if writing else loop.remove_reader)(fd)
            if not future.done():
                future.set_exception(self._end._closed_error(op))
        self._waiting.clear()
        self._end.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<AsyncMQueueTransport {self._end!r}>"

    async def _call(self, op: str, flags: SendFlags | RecvFlags, attempt: Callable[[], R]) -> R:
        """Try *attempt* (a DONTWAIT call of the sync end); while it would block, wait for the queue."""
        wait = self._end._wait(flags)
        if wait == 0:
            return attempt()  # WouldBlock goes to the caller, as in the sync face
        try:
            async with asyncio.timeout(wait), self._turns[op]:
                while True:
                    with contextlib.suppress(WouldBlock):
                        return attempt()
                    await self._ready(op)
        except TimeoutError as exc:
            if isinstance(exc, TransportError):
                raise
            self._end._busy(op, wait)

    async def _ready(self, op: str) -> None:
        """Until the queue of *op* has a message (recv) or room (send), or the end closes."""
        writing = op == "send"
        queue = self._end._out if writing else self._end._in
        fd = queue.mqd
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def ready() -> None:
            if not future.done():
                future.set_result(None)

        (loop.add_writer if writing else loop.add_reader)(fd, ready)
        self._waiting[future] = (fd, writing, op)
        try:
            await future
        finally:
            if self._waiting.pop(future, None) is not None:  # close() has not removed it already
                (loop.remove_writer if writing else loop.remove_reader)(fd)


class AsyncMQueueScheme:
    """The ``mqueue`` scheme's async factory, for :func:`transports.aio.connect` and ``bind`` (APUE 15.7)."""

    kind = Kind.DATAGRAM
    description = "POSIX message queue pair (plugin example), async"

    async def bind(self, url: str, args: OpenArgs) -> AsyncMQueueTransport:
        """The server end: create the queues named in *url* (creating never waits)."""
        return AsyncMQueueTransport(SCHEME.bind(url, args))

    async def connect(self, url: str, args: OpenArgs) -> AsyncMQueueTransport:
        """The client end: open the queues a server created (opening never waits)."""
        return AsyncMQueueTransport(SCHEME.connect(url, args))

    async def listen(self, url: str, args: OpenArgs) -> NoReturn:
        """Refused: a queue has no connections to accept."""
        raise AddressError(
            f"listen({url!r}): message queues are not accepted; use transports.aio.bind() instead"
        )


class MQueueScheme:
    """The ``mqueue`` scheme's factory, found through the ``transports.schemes`` entry point (APUE 15.7)."""

    kind = Kind.DATAGRAM
    description = "POSIX message queue pair (plugin example)"
    #: The async face: transports.aio.connect/bind("mqueue:///name") use it.
    async_factory = AsyncMQueueScheme()

    def bind(self, url: str, args: OpenArgs) -> MQueueTransport:
        """The server end: create the queues named in *url*."""
        self._no_options(url, args)
        return MQueueTransport.bind(queue_name(url), timeout=args.timeout, mode=args.mode or 0o600)

    def connect(self, url: str, args: OpenArgs) -> MQueueTransport:
        """The client end: open the queues a server created."""
        self._no_options(url, args)
        return MQueueTransport.connect(queue_name(url), timeout=args.timeout)

    def listen(self, url: str, args: OpenArgs) -> NoReturn:
        """Refused: a queue has no connections to accept."""
        raise AddressError(f"listen({url!r}): message queues are not accepted; use transports.bind() instead")

    def _no_options(self, url: str, args: OpenArgs) -> None:
        if args.options:
            raise UnsupportedOption(f"{url}: message queues have no socket options", op="open", address=url)


#: The object the entry point ``mqueue = "transports_mqueue:SCHEME"`` names.
SCHEME = MQueueScheme()
