"""The fault-injecting wrapper for :mod:`transports.aio` transports (:apue:`16.5`, :apue:`16.8`).

The async twin of :mod:`transports.testing.faults`: the same :class:`~transports.testing.Faults`,
decided by the same code (``FaultLogic`` of :mod:`transports.testing.faults`),
with every call on the inner transport awaited and every stall an
``asyncio.sleep``. :class:`FaultyTransport` gives back a wrapper shaped like
what it wraps, so it satisfies exactly the :mod:`transports.aio.protocols`
the inner transport satisfies among ``Transport``, ``StreamTransport`` and
``DatagramTransport``.

>>> import asyncio
>>> from transports import aio
>>> from transports.testing.aio_faults import FaultyTransport
>>> async def main():
...     a, b = aio.socketpair()
...     async with FaultyTransport(a, max_send=3) as flaky, b:
...         short = await flaky.send(b"hello")   # a short send, as a busy kernel may do
...         await flaky.send_all(b"hello")       # send_all still delivers everything
...         return short, await b.recv_exactly(8)
>>> asyncio.run(main())
(3, b'helhello')
"""

from __future__ import annotations

import asyncio
from typing import Any, Generic, TypeVar, overload

from transports._closing import CloseOnAsyncExit
from transports._compat import Buffer, WritableBuffer
from transports._twins import docs_from
from transports.addresses import Datagram
from transports.aio.protocols import DatagramTransport, StreamTransport, Transport
from transports.flags import RecvFlags, SendFlags
from transports.protocols import ShutdownHow
from transports.testing import faults as sync_faults
from transports.testing.faults import STALL, FaultLogic, FaultOp, Faults, Forwarding, Shapes

__all__ = [
    "Faults",
    "FaultyDatagramTransport",
    "FaultyMessageTransport",
    "FaultyStreamTransport",
    "FaultyTransport",
    "Passthrough",
    "drive_async",
]

T = TypeVar("T")
InnerT = TypeVar("InnerT", bound=Transport)


async def drive_async(inner: Any, op: FaultOp[T]) -> T:
    """Make the calls of *op* on the async face: each one awaited (:apue:`16.5`, :apue:`16.8`, :apue:`14.4`)."""
    try:
        name, args = next(op)
        while True:
            try:
                result = await (asyncio.sleep if name == STALL else getattr(inner, name))(*args)
            except BaseException as exc:
                name, args = op.throw(exc)
            else:
                name, args = op.send(result)
    except StopIteration as stop:
        done: T = stop.value
        return done


@docs_from(sync_faults.Passthrough)
class Passthrough(Forwarding[InnerT], CloseOnAsyncExit, Generic[InnerT]):
    """An async transport that hands every call to another one: the base for fakes (:apue:`16.5`, :apue:`16.8`, :apue:`14.4`).

    The twin of :class:`transports.testing.Passthrough`: subclass it
    and override the one coroutine you want to break or observe.
    """

    async def send(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> int:
        return await self.inner.send(data, flags)

    async def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        return await self.inner.recv(max_bytes, flags)

    async def recv_into(
        self, buffer: WritableBuffer, nbytes: int = 0, flags: RecvFlags = RecvFlags.NONE
    ) -> int:
        return await self.inner.recv_into(buffer, nbytes, flags)


@docs_from(sync_faults.FaultyTransport)
class FaultyTransport(FaultLogic, CloseOnAsyncExit):
    """Wraps an aio transport and injects :class:`~transports.testing.Faults` into its traffic (:apue:`16.5`, :apue:`14.7`, :apue:`16.8`, :apue:`14.4`).

    The twin of :class:`transports.testing.FaultyTransport`, with the
    same keyword arguments and the same shapes: a :class:`FaultyStreamTransport`
    around an aio byte stream, a :class:`FaultyDatagramTransport` around an
    aio datagram transport, a :class:`FaultyMessageTransport` around a
    connected message transport, a plain :class:`FaultyTransport` otherwise.
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
        if not isinstance(inner, Transport):
            return "an aio transport (for a sync one use transports.testing.faults.FaultyTransport)"
        return None

    async def send(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> int:
        return await drive_async(self.inner, self._send_op(data, flags))

    async def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        return await drive_async(self.inner, self._recv_op(max_bytes, flags))

    async def recv_into(
        self, buffer: WritableBuffer, nbytes: int = 0, flags: RecvFlags = RecvFlags.NONE
    ) -> int:
        return await drive_async(self.inner, self._recv_into_op(buffer, nbytes, flags))


@docs_from(sync_faults.FaultyMessageTransport)
class FaultyMessageTransport(FaultyTransport):
    """A :class:`FaultyTransport` around a connected aio message transport (seqpacket, :apue:`16.2`, :apue:`16.8`, :apue:`14.4`)."""

    def shutdown(self, how: ShutdownHow = "write") -> None:
        self.inner.shutdown(how)


@docs_from(sync_faults.FaultyStreamTransport)
class FaultyStreamTransport(FaultyMessageTransport):
    """A :class:`FaultyTransport` around an aio byte stream: short sends and reads, resets (:apue:`14.7`, :apue:`16.8`, :apue:`14.4`)."""

    @property
    def last_bytes_sent(self) -> int | None:
        """How many bytes the latest ``send_all`` handed to the inner stream, however it ended (None before one)."""
        return self._last_sent

    async def send_all(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> None:
        await drive_async(self.inner, self._send_all_op(data, flags))

    async def recv_exactly(self, n: int) -> bytes:
        return await drive_async(self.inner, self._recv_exactly_op(n))


@docs_from(sync_faults.FaultyDatagramTransport)
class FaultyDatagramTransport(FaultyTransport):
    """A :class:`FaultyTransport` around an aio datagram transport: drops and duplicates (:apue:`16.5`, :apue:`16.8`, :apue:`14.4`)."""

    @property
    def max_message_size(self) -> int:
        size: int = self.inner.max_message_size
        return size

    async def send_to(self, data: Buffer, address: Any, flags: SendFlags = SendFlags.NONE) -> int:
        return await drive_async(self.inner, self._send_to_op(data, address, flags))

    async def recv_from(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> Datagram:
        return await drive_async(self.inner, self._recv_from_op(max_bytes, flags))


FaultyTransport._shapes = Shapes(
    FaultyStreamTransport,
    FaultyDatagramTransport,
    FaultyMessageTransport,
    FaultyTransport,
    StreamTransport,
    DatagramTransport,
)
