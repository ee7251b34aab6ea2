"""Async Unix-domain sockets: the sync :mod:`transports.unix` classes, waited on by the event loop (:apue:`17.2`, :apue:`16.8`, :apue:`14.4`).

Binding and listening are the sync constructors themselves, made async by
``AsyncTwin`` (the same stale socket file rules of
:apue:`17.3`, the same permissions and start lock);
descriptor passing is the sync ``send_fds``/``recv_fds`` (:apue:`17.4`), made
again after each wait.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Self, TypeVar, cast

from transports import unix as _sync
from transports._compat import Buffer
from transports._core.sockflags import PEEK
from transports._core.validate import check_size, check_timeout
from transports.addresses import UnixAddress
from transports.aio._core import AsyncSocketTransport, MessageOps
from transports.aio._listener import AsyncListener
from transports.aio._stream import SendfileOps, ShutdownOps
from transports.aio._twin import AsyncTwin
from transports.aio.udp import BatchOps
from transports.ancillary import AsyncAncillaryMixin
from transports.errors import WouldBlock, translate_os_error
from transports.fdpass import Credentials, FdPassingMixin, ReceivedFds
from transports.flags import RecvFlags, SendFlags
from transports.options import OptionSetting
from transports.protocols import FdDestination, Fds

__all__ = [
    "UnixDatagramTransport",
    "UnixListener",
    "UnixSeqpacketListener",
    "UnixSeqpacketTransport",
    "UnixStreamTransport",
]

FdT = TypeVar("FdT", bound=FdPassingMixin)

#: Longest pause between two tries of a connect that found the backlog full.
_MAX_BACKOFF = 0.1


class FdOps(AsyncSocketTransport[FdT, UnixAddress]):
    """``send_fds``, ``recv_fds``, ``peer_credentials`` and ``pair`` (:apue:`17.4`, :apue:`17.3`, :apue:`16.8`)."""

    __slots__ = ()
    _sync_class: ClassVar[type[FdPassingMixin]]

    @classmethod
    def pair(cls) -> tuple[Self, Self]:
        """Two connected ends of a new ``socketpair`` of this kind (:apue:`17.2`); nothing waits, so a plain method."""
        a, b = cast("tuple[FdT, FdT]", cls._sync_class.pair())
        try:
            first = cls._wrap(a)
        except BaseException:
            b.close()
            raise
        return first, cls._wrap(b)

    async def send_fds(
        self, data: Buffer, fds: Fds, flags: SendFlags = SendFlags.NONE, *, address: FdDestination = None
    ) -> int:
        """Send *data* with copies of the descriptors *fds* (:apue:`17.4`); the sync ``send_fds``, waited on.

        Returns the data bytes sent; the descriptors go with them, once.
        """
        items = list(fds)  # an iterator must still hold every descriptor when the call is made again

        def attempt() -> int:
            return self._sync.send_fds(data, items, flags, address=address)

        return await self._retry(True, "send_fds", flags, attempt)

    async def recv_fds(self, max_bytes: int, max_fds: int, flags: RecvFlags = RecvFlags.NONE) -> ReceivedFds:
        """Receive data and up to *max_fds* close-on-exec descriptors (:apue:`17.4`); the sync ``recv_fds``, waited on.

        On a stream, bytes a cancelled receive kept back come first, alone.
        """
        if self._pending:
            bits = self._sync._recv_bits(flags) if flags else 0
            check_size("max_fds", max_fds)
            data = self._pending[: check_size("max_bytes", max_bytes)]
            if not bits & PEEK:
                self._pending = self._pending[len(data) :]
            return ReceivedFds(data, ())
        return await self._retry(False, "recv_fds", flags, self._sync.recv_fds, max_bytes, max_fds, flags)

    def peer_credentials(self, *, pidfd: bool = False) -> Credentials:
        """The pid, uid and gid of the peer process (:apue:`17.3`), kept by the kernel: nothing waits.

        ``pidfd=True`` adds a :class:`~transports.pidfd.PidFd` of it, as in the sync twin.
        """
        return self._sync.peer_credentials(pidfd=pidfd)


async def _connect(make: Callable[[], FdT], timeout: float | None) -> FdT:
    """Connect with the sync constructor, non-blocking; a full backlog (EAGAIN) is tried again (:apue:`17.3`).

    A Unix connect does not wait in the kernel the way TCP's handshake does:
    it succeeds or fails at once, and fails with EAGAIN while the listener's
    queue is full. Then the only way to wait is to try again, a little later
    each time, until *timeout*. With ``timeout=0`` there is one try, and a
    full queue is the sync constructor's :class:`~transports.WouldBlock`.
    """
    if timeout == 0:
        return make()
    delay = 0.001
    last: WouldBlock | None = None
    try:
        async with asyncio.timeout(timeout):
            while True:
                try:
                    return make()
                except WouldBlock as exc:
                    last = exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_BACKOFF)
    except TimeoutError as exc:
        assert last is not None
        raise translate_os_error(exc, "connect to", last.address, timeout=timeout) from last


class _Connecting(FdOps[FdT]):
    """``connect`` of the connection-oriented Unix kinds: the sync one, non-blocking, a full backlog waited out."""

    __slots__ = ()

    @classmethod
    async def connect(
        cls,
        path: str | UnixAddress | os.PathLike[str],
        *,
        timeout: float | None = None,
        options: Iterable[OptionSetting[Any]] = (),
    ) -> Self:
        """Connect to the listener at *path* (:apue:`17.3` ``cli_conn``, :apue:`16.8`); a full backlog is waited out.

        ``timeout=0`` never waits, as in the sync twin: a full queue raises
        :class:`~transports.WouldBlock` at once.
        """
        timeout = check_timeout(timeout)
        settings = tuple(options)
        connect: Callable[..., FdT] = getattr(cls._sync_class, "connect")  # noqa: B009 - the concrete classes have it
        sync = await _connect(lambda: connect(path, timeout=0, options=settings), timeout)
        return cls._wrap(sync, timeout)


class UnixStreamTransport(
    SendfileOps[_sync.UnixStreamTransport, UnixAddress], _Connecting[_sync.UnixStreamTransport]
):
    """An async connected Unix stream socket (:apue:`17.2`, :apue:`16.8`, :apue:`14.4`).

    The twin of :class:`transports.UnixStreamTransport`.

    >>> import asyncio
    >>> from transports import aio
    >>> async def main():
    ...     a, b = aio.UnixStreamTransport.pair()
    ...     async with a, b:
    ...         await a.send_all(b"over the socketpair")
    ...         return await b.recv_exactly(4)
    >>> asyncio.run(main())
    b'over'
    """

    __slots__ = ()
    network = "unix"
    _sync_class = _sync.UnixStreamTransport


class UnixSeqpacketTransport(
    MessageOps[_sync.UnixSeqpacketTransport, UnixAddress],
    ShutdownOps[_sync.UnixSeqpacketTransport, UnixAddress],
    _Connecting[_sync.UnixSeqpacketTransport],
):
    """An async connected Unix seqpacket socket: messages over a connection (:apue:`17.2`, :apue:`16.8`, :apue:`14.4`).

    The twin of :class:`transports.UnixSeqpacketTransport`.
    """

    __slots__ = ()
    network = "unixpacket"
    _sync_class = _sync.UnixSeqpacketTransport


class _Disowning:
    """``disown()`` of the async objects that may own a socket file: the sync object's, which never waits."""

    __slots__ = ()
    _sync: Any  # the sync object, of one of the three classes with disown()

    def disown(self) -> None:
        """Leave the socket file in place when this object closes (:apue:`17.3`).

        For a socket another process serves from now on (a hand-off's successor).
        """
        self._sync.disown()


class UnixDatagramTransport(
    _Disowning,
    BatchOps[_sync.UnixDatagramTransport, UnixAddress],
    FdOps[_sync.UnixDatagramTransport],
    AsyncAncillaryMixin,
):
    """An async Unix datagram socket: reliable, ordered messages on one host (:apue:`17.2`, :apue:`16.8`, :apue:`14.4`).

    The twin of :class:`transports.UnixDatagramTransport`; a socket bound
    to a path removes its file when closed.
    """

    __slots__ = ()
    network = "unixgram"
    _sync_class = _sync.UnixDatagramTransport

    bind = AsyncTwin(_sync.UnixDatagramTransport.bind)
    connect = AsyncTwin(_sync.UnixDatagramTransport.connect)


class UnixListener(_Disowning, AsyncListener[_sync.UnixListener, UnixStreamTransport, UnixAddress]):
    """An async listening Unix stream socket (:apue:`17.3`, :apue:`16.8`, :apue:`14.4`).

    The twin of :class:`transports.UnixListener`: a stale socket file is
    replaced, a live one or any other file refused; only the file it made
    is removed on close.
    """

    __slots__ = ()
    network = "unix"
    _transport = UnixStreamTransport
    _sync_class = _sync.UnixListener
    listen = AsyncTwin(_sync.UnixListener.listen)


class UnixSeqpacketListener(
    _Disowning, AsyncListener[_sync.UnixSeqpacketListener, UnixSeqpacketTransport, UnixAddress]
):
    """An async listening Unix seqpacket socket (:apue:`17.3`, :apue:`16.8`, :apue:`14.4`)."""

    __slots__ = ()
    network = "unixpacket"
    _transport = UnixSeqpacketTransport
    _sync_class = _sync.UnixSeqpacketListener
    listen = AsyncTwin(_sync.UnixSeqpacketListener.listen)
