"""What every async transport and listener shares (:apue:`16.8`, :apue:`14.4`).

An async object owns one of our *sync* transports or listeners, switched to
non-blocking mode (timeout 0) for good. Every operation first makes the sync
call, so flag checks, error translation, truncation reports, addresses and
options are the sync code itself. Only when the kernel answers EAGAIN does
the async side step in: it registers the descriptor with the event loop
(``add_reader``/``add_writer``, the loop's own ``poll`` of :apue:`14.4`), waits,
and makes the same call again. The listeners' ``accept``, iteration and
``serve`` are in :mod:`transports.aio._listener`.

The call always runs in the task's own step, after the wait, never in a loop
callback. A cancellation can therefore only land on the wait, before anything
was read or written: a cancelled receive loses no data, a cancelled ``accept``
loses no connection, and a cancelled send knows exactly what it sent. (The
loop's ``sock_recv``/``sock_accept`` read in the callback and hand the result
over later; a cancellation in between drops it.)
"""

from __future__ import annotations

import asyncio
import functools
import socket
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Generic, Self, TypeVar, cast

from transports._closing import CloseOnAsyncExit
from transports._compat import Buffer, WritableBuffer
from transports._core.deadline import Deadline
from transports._core.message import MessageMixin
from transports._core.owner import SocketOwner
from transports._core.sockflags import DONTWAIT, NOSIGNAL
from transports._core.transport import SocketTransport
from transports._core.validate import check_timeout
from transports._twins import docs_from
from transports.addresses import Address, Datagram, InetAddress
from transports.errors import TransportError, translate_os_error
from transports.flags import RecvFlags, SendFlags
from transports.kinds import Kind
from transports.options import SocketOption
from transports.protocols import DatagramTransport, Destination

T = TypeVar("T")
OwnerT = TypeVar("OwnerT", bound=SocketOwner)
SyncT = TypeVar("SyncT", bound=SocketTransport[Any])
MessageT = TypeVar("MessageT", bound=MessageMixin[Any])
AddrT = TypeVar("AddrT", bound=Address)

_Waiters = list["asyncio.Future[None]"]
_READ, _WRITE = 1, 2


async def off_loop(host: str, make: Callable[[], T], *, closes: bool = False) -> T:
    """Run *make* at once if *host* needs no name lookup, else in the loop's executor (:apue:`16.3.3`).

    An IP literal or an empty host resolves without asking anyone, so the
    sync constructor runs right here; a name may need DNS, which blocks, so
    it runs in the default executor, as ``loop.getaddrinfo`` would. With
    *closes*, a result that arrives after the caller was cancelled is closed.
    """
    if not host or InetAddress(host, 0).family != socket.AF_UNSPEC:
        return make()
    inner = asyncio.get_running_loop().run_in_executor(None, make)
    try:
        return await asyncio.shield(inner)
    except asyncio.CancelledError:
        if closes:
            inner.add_done_callback(_close_result)
        raise


async def wait_at_most(waiter: Awaitable[object], left: float | None) -> None:
    """Await *waiter* for *left* seconds at the most, or for ever when *left* is ``None`` (:apue:`14.4`, :apue:`16.8`).

    ``TimeoutError`` when the time runs out (*waiter* is then cancelled);
    the caller turns it into its own :class:`~transports.TransportTimeout`.
    Every wait of an async transport for its socket goes through here, as
    does the in-memory transports' wait for their peer.
    """
    if left is None:
        await waiter
    else:
        async with asyncio.timeout(left):
            await waiter


def _close_result(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is None:
        future.result().close()


@docs_from(SocketOwner)
class AsyncOwner(CloseOnAsyncExit, Generic[OwnerT]):
    """One sync socket owner in non-blocking mode, and the tasks waiting on it (:apue:`16.8`, :apue:`14.4`)."""

    __slots__ = ("__weakref__", "_loop", "_readers", "_sock", "_sync", "_timeout", "_watching", "_writers")

    #: Go-style network name used in URLs and messages ("tcp", "unixgram" ...).
    network: ClassVar[str]
    _sync: OwnerT
    _sock: socket.socket
    _timeout: float | None
    _loop: asyncio.AbstractEventLoop | None
    _readers: _Waiters
    _writers: _Waiters
    #: Which of reading (1) and writing (2) the loop watches for us.
    _watching: int

    def _attach(self, sync: OwnerT, timeout: float | None) -> None:
        """Own *sync* from now on, non-blocking; close it if that fails."""
        try:
            self._timeout = check_timeout(timeout)
            sync.timeout = 0  # the event loop does all the waiting from now on
        except BaseException:
            sync.close()
            raise
        self._sync = sync
        self._sock = sync.raw_socket
        self._loop = None
        self._readers = []
        self._writers = []
        self._watching = 0

    @classmethod
    def _wrap(cls, sync: OwnerT, timeout: float | None = None) -> Self:
        """An async object owning the sync object *sync*."""
        self = cls.__new__(cls)
        self._attach(sync, timeout)
        return self

    @classmethod
    async def _made_by(
        cls, make: Callable[..., OwnerT], *args: Any, timeout: float | None, lookup: str = "", **kwargs: Any
    ) -> Self:
        """Own what the sync constructor ``make(*args, timeout=0, **kwargs)`` makes, with *timeout* for its calls.

        The sync constructor does every check, lookup and step, non-blocking;
        when *lookup* names a host that needs DNS it runs off the loop
        (:func:`off_loop`). Its result is closed if this task was cancelled meanwhile.
        """
        timeout = check_timeout(timeout)
        made = await off_loop(lookup, functools.partial(make, *args, timeout=0, **kwargs), closes=True)
        return cls._wrap(made, timeout)

    # -- what the sync owner already knows ------------------------------------------------

    @property
    def raw_socket(self) -> socket.socket:
        """The owned :class:`socket.socket`, non-blocking, for calls this class does not wrap.

        Do not close it or make it blocking behind the owner's back.
        """
        return self._sock

    def fileno(self) -> int:
        """The socket's file descriptor, -1 once closed (:apue:`16.2`)."""
        return self._sock.fileno()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._sock.fileno() == -1

    @property
    def timeout(self) -> float | None:
        """Seconds one call may wait: None forever, 0 never (a call that would wait raises WouldBlock).

        Applied with :func:`asyncio.timeout` inside each call; ``send_all``,
        ``recv_exactly`` and ``sendfile`` spread it over their whole loop.
        Expiry raises :class:`~transports.TransportTimeout`.
        """
        return self._timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self._timeout = check_timeout(value)

    def get_option(self, option: SocketOption[T]) -> T:
        return self._sync.get_option(option)

    def set_option(self, option: SocketOption[T], value: T) -> None:
        self._sync.set_option(option, value)

    def close(self) -> None:
        """Close the socket (:apue:`16.2`); closing again does nothing. Tasks waiting on it wake with TransportClosed.

        The loop forgets the descriptor first, so that a new socket given the
        same number is never watched on the old one's behalf.
        """
        self._unwatch(_READ | _WRITE)
        if self._loop is not None and not self._loop.is_closed():
            for waiter in (*self._readers, *self._writers):
                if not waiter.done():
                    waiter.set_result(None)
        self._sync.close()

    def __repr__(self) -> str:
        name = f"aio.{type(self).__name__}"
        return f"<{name} closed>" if self.closed else f"<{name} {self._sync._describe()}>"

    # -- errors ----------------------------------------------------------------------------

    def _error(self, exc: OSError, op: str, bytes_sent: int | None = None) -> TransportError:
        return translate_os_error(exc, op, self._sync._where(), bytes_sent=bytes_sent, timeout=self._timeout)

    def _timed_out(self, op: str, bytes_sent: int | None = None) -> TransportError:
        return self._error(TimeoutError("timed out"), op, bytes_sent)

    # -- waiting (APUE 14.4) ----------------------------------------------------------------

    def _deadline(self) -> Deadline | None:
        """The one budget of a call made of several waits (the sync face's :class:`Deadline`)."""
        timeout = self._timeout
        return None if timeout is None else Deadline(timeout)

    async def _wait(
        self, writable: bool, deadline: Deadline | None, op: str, bytes_sent: int | None = None
    ) -> None:
        """Wait until the socket is readable (or writable), or the deadline passes (TransportTimeout).

        Several tasks may wait on one socket: all are woken and each tries
        its call again.
        """
        fd = self._sock.fileno()
        if fd == -1:
            return  # closed: the caller's next call fails with EBADF, reported as TransportClosed
        loop = asyncio.get_running_loop()
        left = None if deadline is None else deadline.left()
        if left == 0:
            raise self._timed_out(op, bytes_sent)
        if writable:
            waiters, bit = self._writers, _WRITE
        else:
            waiters, bit = self._readers, _READ
        if not self._watching & bit or self._loop is not loop:
            self._watch(loop, fd, bit)
        waiter: asyncio.Future[None] = loop.create_future()
        waiters.append(waiter)
        try:
            await wait_at_most(waiter, left)
        except TimeoutError:
            raise self._timed_out(op, bytes_sent) from None
        finally:
            waiters.remove(waiter)

    def _watch(self, loop: asyncio.AbstractEventLoop, fd: int, bit: int) -> None:
        """Have *loop* call us when the socket is ready; it keeps watching until a call finds nobody waiting.

        Watching on between waits saves two ``epoll_ctl`` calls per wait on
        a busy socket (a request-response exchange waits once per message).
        """
        if self._loop is not loop:
            self._unwatch(_READ | _WRITE)  # a loop of an earlier run: drop what it watched
            self._loop = loop
        if bit == _WRITE:
            loop.add_writer(fd, self._ready, self._writers, _WRITE)
        else:
            loop.add_reader(fd, self._ready, self._readers, _READ)
        self._watching |= bit

    def _ready(self, waiters: _Waiters, bit: int) -> None:
        """The loop's callback: wake every waiting task; stop watching if there is none."""
        woke = False
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
                woke = True
        if not woke:
            self._unwatch(bit)

    def _unwatch(self, bits: int) -> None:
        loop, fd = self._loop, self._sock.fileno()
        bits &= self._watching
        if not bits or loop is None:
            return
        self._watching &= ~bits
        if fd == -1 or loop.is_closed():
            return
        if bits & _READ:
            loop.remove_reader(fd)
        if bits & _WRITE:
            loop.remove_writer(fd)

    async def _retry(
        self,
        writable: bool,
        op: str,
        flags: int,
        call: Callable[..., T],
        *args: Any,
        waited: bool = False,
    ) -> T:
        """Make the non-blocking *call*; while it answers EAGAIN, wait for readiness and call again.

        With ``MSG_DONTWAIT`` in *flags*, or a timeout of 0, it never waits:
        EAGAIN raises :class:`~transports.WouldBlock`. *waited* means
        the caller just saw EAGAIN itself, so wait before the first call.
        """
        deadline: Deadline | None = None
        started = False
        while True:
            if waited and self._timeout != 0 and not int(flags) & DONTWAIT:
                if not started and self._timeout is not None:
                    deadline = self._deadline()
                started = True
                await self._wait(writable, deadline, op)
            try:
                return call(*args)
            except BlockingIOError as exc:
                if int(flags) & DONTWAIT or self._timeout == 0:
                    if isinstance(exc, TransportError):
                        raise
                    raise self._error(exc, op) from exc
            except TransportError:
                raise
            except OSError as exc:
                raise self._error(exc, op) from exc
            waited = True


@docs_from(SocketTransport)
class AsyncSocketTransport(AsyncOwner[SyncT], Generic[SyncT, AddrT]):
    """Base of the async transports: a sync transport plus the waiting (:apue:`16.8`, :apue:`14.4`)."""

    __slots__ = ("_last_sent", "_pending")

    #: The sync class this one wraps.
    _sync_class: ClassVar[type[SocketTransport[Any]]]
    #: Bytes a cancelled stream receive had read, handed out first by the next one.
    _pending: bytes
    _last_sent: int | None

    def __init__(self, sock: socket.socket) -> None:
        """Take ownership of *sock*, which must match the class's family and kind; it becomes non-blocking."""
        self._attach(cast(SyncT, self._sync_class(sock)), None)

    def _attach(self, sync: SyncT, timeout: float | None) -> None:
        super()._attach(sync, timeout)
        self._pending = b""
        self._last_sent = None

    @classmethod
    def from_socket(cls, sock: socket.socket) -> Self:
        """Wrap a :class:`socket.socket` of this class's kind, taking ownership of it (:apue:`16.2`).

        The sync class's ``from_socket`` checks it first, so the same sockets
        are refused (a closed one; an unconnected or listening stream or
        seqpacket one) with :class:`ValueError`, left open and still the caller's.
        """
        adopt: Callable[[socket.socket], SyncT] = getattr(cls._sync_class, "from_socket")  # noqa: B009 - only the concrete classes have it
        return cls._wrap(adopt(sock))

    @property
    def kind(self) -> Kind:
        return self._sync.kind

    @property
    def local_address(self) -> AddrT:
        return cast(AddrT, self._sync.local_address)

    @property
    def remote_address(self) -> AddrT | None:
        return cast("AddrT | None", self._sync.remote_address)

    # -- data transfer (APUE 16.5) ---------------------------------------------------------

    async def send(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> int:
        """Send from *data*; return how many bytes the kernel took (:apue:`16.5`, :apue:`16.8`).

        Waits only while the send buffer is full. A cancelled send sent
        nothing: the call is made after the wait, never before it.
        """
        if not flags:
            try:
                return self._sock.send(data, NOSIGNAL)
            except BlockingIOError:
                pass
            except OSError as exc:
                raise self._sync._send_error(exc, "send", data) from exc
            return await self._retry(True, "send", flags, self._sync.send, data, flags, waited=True)
        return await self._retry(True, "send", flags, self._sync.send, data, flags)

    async def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        """Receive one message of at most *max_bytes* (:apue:`16.5`, :apue:`16.8`).

        A message that does not fit raises
        :class:`~transports.MessageTruncated`, as in the sync class.
        """
        if not flags:
            try:
                return self._sync.recv(max_bytes)
            except BlockingIOError:
                pass  # nothing queued: wait for readiness, then receive
        return await self._retry(False, "recv", flags, self._sync.recv, max_bytes, flags, waited=not flags)

    async def recv_into(
        self, buffer: WritableBuffer, nbytes: int = 0, flags: RecvFlags = RecvFlags.NONE
    ) -> int:
        """Receive one message into *buffer* (:apue:`16.5`, :apue:`16.8`); return its size."""
        return await self._retry(False, "recv_into", flags, self._sync.recv_into, buffer, nbytes, flags)


class MessageOps(AsyncSocketTransport[MessageT, AddrT]):
    """What datagram and seqpacket transports add: the message size limit (:apue:`16.5`)."""

    __slots__ = ()

    @property
    def max_message_size(self) -> int:
        """The largest payload one send can carry on this transport."""
        return self._sync.max_message_size


class DatagramOps(MessageOps[MessageT, AddrT]):
    """Addressed messages: ``send_to`` and ``recv_from`` (:apue:`16.5`, :apue:`16.8`)."""

    __slots__ = ()

    async def send_to(self, data: Buffer, address: Destination, flags: SendFlags = SendFlags.NONE) -> int:
        """Send one message to *address* (:apue:`16.5`); MessageTooLarge if it cannot fit."""
        sync = cast(DatagramTransport, self._sync)
        if not flags:
            # The first try needs no wait and no coroutine of ours: the loop is asked only on EAGAIN.
            try:
                return sync.send_to(data, address)
            except BlockingIOError:
                pass
        return await self._retry(True, "send_to", flags, sync.send_to, data, address, flags, waited=not flags)

    async def recv_from(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> Datagram:
        """Receive one message and its sender (:apue:`16.5`); ``truncated`` says whether it was cut."""
        sync = cast(DatagramTransport, self._sync)
        if not flags:
            try:
                return sync.recv_from(max_bytes)
            except BlockingIOError:
                pass  # nothing queued: wait for readiness, then receive
        return await self._retry(
            False, "recv_from", flags, sync.recv_from, max_bytes, flags, waited=not flags
        )
