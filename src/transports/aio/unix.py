"""Async Unix-domain sockets: the sync :mod:`transports.unix` classes, waited on by the event loop (APUE 17.2, 16.8, 14.4).

Binding and listening are the sync constructors themselves (the same stale
socket file rules of APUE 17.3, the same permissions and start lock);
descriptor passing is the sync ``send_fds``/``recv_fds`` (APUE 17.4), made
again after each wait.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Collection, Iterable
from typing import Any, ClassVar, Self, TypeVar

from transports import unix as _sync
from transports._compat import Buffer
from transports._core.sockflags import PEEK
from transports._core.validate import check_size, check_timeout
from transports.addresses import UnixAddress
from transports.aio._core import AsyncListener, AsyncSocketTransport, DatagramOps, MessageOps
from transports.aio._stream import SendfileOps, ShutdownOps
from transports.errors import WouldBlock, translate_os_error
from transports.fdpass import Credentials, FdPassingMixin, ReceivedFds
from transports.flags import RecvFlags, SendFlags
from transports.options import OptionSetting
from transports.protocols import _HasFileno

__all__ = [
    "UnixDatagramTransport",
    "UnixListener",
    "UnixSeqpacketListener",
    "UnixSeqpacketTransport",
    "UnixStreamTransport",
]

T = TypeVar("T")
FdT = TypeVar("FdT", bound=FdPassingMixin)
PairT = TypeVar("PairT", bound=AsyncSocketTransport[Any, Any])

#: Longest pause between two tries of a connect that found the backlog full.
_MAX_BACKOFF = 0.1


class FdOps(AsyncSocketTransport[FdT, UnixAddress]):
    """``send_fds``, ``recv_fds`` and ``peer_credentials`` (APUE 17.4 Passing File Descriptors, 17.3, 16.8)."""

    __slots__ = ()

    async def send_fds(
        self,
        data: Buffer,
        fds: Iterable[int | _HasFileno],
        flags: SendFlags = SendFlags.NONE,
        *,
        address: UnixAddress | str | os.PathLike[str] | None = None,
    ) -> int:
        """Send *data* with copies of the descriptors *fds* (APUE 17.4); the sync ``send_fds``, waited on.

        Returns the data bytes sent; the descriptors go with them, once.
        """
        items = list(fds)  # an iterator must still hold every descriptor when the call is made again

        def attempt() -> int:
            return self._sync.send_fds(data, items, flags, address=address)

        return await self._retry(True, "send_fds", flags, attempt)

    async def recv_fds(self, max_bytes: int, max_fds: int, flags: RecvFlags = RecvFlags.NONE) -> ReceivedFds:
        """Receive data and up to *max_fds* close-on-exec descriptors (APUE 17.4); the sync ``recv_fds``, waited on.

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

    def peer_credentials(self) -> Credentials:
        """The pid, uid and gid of the peer process (APUE 17.3 Unique Connections)."""
        return self._sync.peer_credentials()


def _pair(cls: type[PairT], make: Callable[[], tuple[Any, Any]]) -> tuple[PairT, PairT]:
    a, b = make()
    try:
        first = cls._wrap(a)
    except BaseException:
        b.close()
        raise
    return first, cls._wrap(b)


async def _connect(make: Callable[[], T], timeout: float | None) -> T:
    """Connect with the sync constructor, non-blocking; a full backlog (EAGAIN) is tried again (APUE 17.3).

    A Unix connect does not wait in the kernel the way TCP's handshake does:
    it succeeds or fails at once, and fails with EAGAIN while the listener's
    queue is full. Then the only way to wait is to try again, a little later
    each time, until *timeout*. With ``timeout=0`` there is one try, and a
    full queue is the sync constructor's :class:`~transports.errors.WouldBlock`.
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


class UnixStreamTransport(
    SendfileOps[_sync.UnixStreamTransport, UnixAddress], FdOps[_sync.UnixStreamTransport]
):
    """An async connected Unix stream socket (APUE 17.2 UNIX Domain Sockets, 16.8, 14.4).

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

    @classmethod
    async def connect(
        cls,
        path: str | UnixAddress | os.PathLike[str],
        *,
        timeout: float | None = None,
        options: Iterable[OptionSetting[Any]] = (),
    ) -> Self:
        """Connect to the listener at *path* (APUE 17.3 ``cli_conn``, 16.8); a full backlog is waited out.

        ``timeout=0`` never waits, as in the sync twin: a full queue raises
        :class:`~transports.errors.WouldBlock` at once.
        """
        timeout = check_timeout(timeout)
        settings = tuple(options)
        sync = await _connect(
            lambda: _sync.UnixStreamTransport.connect(path, timeout=0, options=settings), timeout
        )
        return cls._wrap(sync, timeout)

    @classmethod
    def pair(cls) -> tuple[Self, Self]:
        """Two connected ends of a new ``socketpair`` (APUE 17.2); nothing to wait for, so a plain method."""
        return _pair(cls, _sync.UnixStreamTransport.pair)


class UnixSeqpacketTransport(
    MessageOps[_sync.UnixSeqpacketTransport, UnixAddress],
    ShutdownOps[_sync.UnixSeqpacketTransport, UnixAddress],
    FdOps[_sync.UnixSeqpacketTransport],
):
    """An async connected Unix seqpacket socket: messages over a connection (APUE 17.2, 16.8, 14.4).

    The twin of :class:`transports.UnixSeqpacketTransport`.
    """

    __slots__ = ()
    network = "unixpacket"
    _sync_class = _sync.UnixSeqpacketTransport

    @classmethod
    async def connect(
        cls,
        path: str | UnixAddress | os.PathLike[str],
        *,
        timeout: float | None = None,
        options: Iterable[OptionSetting[Any]] = (),
    ) -> Self:
        """Connect to the seqpacket listener at *path* (APUE 17.3, 16.8); a full backlog is waited out.

        ``timeout=0`` never waits, as in the sync twin: a full queue raises
        :class:`~transports.errors.WouldBlock` at once.
        """
        timeout = check_timeout(timeout)
        settings = tuple(options)
        sync = await _connect(
            lambda: _sync.UnixSeqpacketTransport.connect(path, timeout=0, options=settings), timeout
        )
        return cls._wrap(sync, timeout)

    @classmethod
    def pair(cls) -> tuple[Self, Self]:
        """Two connected ends of a new seqpacket ``socketpair`` (APUE 17.2)."""
        return _pair(cls, _sync.UnixSeqpacketTransport.pair)


class UnixDatagramTransport(
    DatagramOps[_sync.UnixDatagramTransport, UnixAddress], FdOps[_sync.UnixDatagramTransport]
):
    """An async Unix datagram socket: reliable, ordered messages on one host (APUE 17.2, 16.8, 14.4).

    The twin of :class:`transports.UnixDatagramTransport`; a socket bound
    to a path removes its file when closed.
    """

    __slots__ = ()
    network = "unixgram"
    _sync_class = _sync.UnixDatagramTransport

    @classmethod
    async def bind(
        cls,
        path: str | UnixAddress | os.PathLike[str] | None = None,
        *,
        mode: int | None = 0o600,
        timeout: float | None = None,
        options: Iterable[OptionSetting[Any]] = (),
    ) -> Self:
        """Bind to *path* (``None``: an autobound abstract name on Linux) (APUE 17.2.1, 17.3)."""
        timeout = check_timeout(timeout)
        sync = _sync.UnixDatagramTransport.bind(path, mode=mode, timeout=0, options=options)
        return cls._wrap(sync, timeout)

    @classmethod
    async def connect(
        cls,
        path: str | UnixAddress | os.PathLike[str],
        *,
        local: str | UnixAddress | os.PathLike[str] | None = None,
        timeout: float | None = None,
        options: Iterable[OptionSetting[Any]] = (),
    ) -> Self:
        """Fix the peer to *path*, binding *local* first so the peer can answer (APUE 17.2.1, 16.4).

        Nothing is exchanged, so nothing is awaited: ``timeout=0`` simply makes
        every later call non-blocking, as in the sync twin.
        """
        timeout = check_timeout(timeout)
        sync = _sync.UnixDatagramTransport.connect(path, local=local, timeout=0, options=options)
        return cls._wrap(sync, timeout)

    @classmethod
    def pair(cls) -> tuple[Self, Self]:
        """Two connected ends of a new datagram ``socketpair`` (APUE 17.2)."""
        return _pair(cls, _sync.UnixDatagramTransport.pair)


class _UnixListenerBase(AsyncListener[Any, PairT, UnixAddress]):
    __slots__ = ()
    _sync_listener: ClassVar[type[_sync.UnixListener] | type[_sync.UnixSeqpacketListener]]

    @classmethod
    async def listen(
        cls,
        path: str | UnixAddress | os.PathLike[str],
        *,
        backlog: int = 128,
        mode: int | None = 0o600,
        timeout: float | None = None,
        options: Iterable[OptionSetting[Any]] = (),
        allowed_uids: Collection[int] | None = None,
    ) -> Self:
        """Bind *path* and listen (APUE 17.3 ``serv_listen``); the sync ``listen`` does it, file rules and all.

        *allowed_uids* limits whose connections :meth:`accept` hands out
        (the others are closed; iteration and :meth:`serve` skip them).
        """
        timeout = check_timeout(timeout)
        sync = cls._sync_listener.listen(
            path, backlog=backlog, mode=mode, timeout=0, options=options, allowed_uids=allowed_uids
        )
        return cls._wrap(sync, timeout)


class UnixListener(_UnixListenerBase[UnixStreamTransport]):
    """An async listening Unix stream socket (APUE 17.3 Unique Connections, 16.8, 14.4).

    The twin of :class:`transports.UnixListener`: a stale socket file is
    replaced, a live one or any other file refused; only the file it made
    is removed on close.
    """

    __slots__ = ()
    network = "unix"
    _transport = UnixStreamTransport
    _sync_listener = _sync.UnixListener


class UnixSeqpacketListener(_UnixListenerBase[UnixSeqpacketTransport]):
    """An async listening Unix seqpacket socket (APUE 17.3 Unique Connections, 16.8, 14.4)."""

    __slots__ = ()
    network = "unixpacket"
    _transport = UnixSeqpacketTransport
    _sync_listener = _sync.UnixSeqpacketListener
