"""Async UDP: the sync :class:`transports.UDPTransport`, waited on by the event loop (:apue:`16.5`, :apue:`16.8`, :apue:`14.4`).

Also the async batch methods that Unix datagram transports share
(``BatchOps``): each waits like the single call it repeats, and takes
what is already queued through the sync transport's non-waiting steps.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from transports import udp as _sync
from transports._compat import Buffer
from transports._core.batch import BatchMixin, check_count, outgoing, segments
from transports._core.validate import check_size
from transports.addresses import Address, Datagram, InetAddress
from transports.aio._core import DatagramOps
from transports.aio._twin import AsyncTwin
from transports.ancillary import AsyncAncillaryMixin, PacketInfo
from transports.batch import OffloadUnavailable
from transports.flags import SendFlags
from transports.protocols import Destination

__all__ = ["UDPTransport"]

BatchT = TypeVar("BatchT", bound=BatchMixin[Any])
AddrT = TypeVar("AddrT", bound=Address)


class BatchOps(DatagramOps[BatchT, AddrT]):
    """``send_many`` and ``recv_many`` on the async face (:apue:`16.5`, :apue:`16.8`, :apue:`14.4`)."""

    __slots__ = ()

    async def send_many(self, datagrams: Iterable[Buffer | tuple[Buffer, Destination]]) -> int:
        """Send each entry as one datagram; return how many were sent (:apue:`16.5`, :apue:`16.8`, :apue:`14.4`).

        As the sync ``send_many``: an entry is ``(data, address)`` or *data*
        for the connected peer; each send waits as ``send_to``/``send`` does;
        a failure after some were sent ends the batch and the count says
        which were sent, a failure of the first raises.
        """
        sent = 0
        for item in datagrams:
            data, address = outgoing(item)
            try:
                if address is None:
                    await self.send(data)
                else:
                    await self.send_to(data, address)
            except OSError:
                if sent:
                    return sent
                raise
            sent += 1
        return sent

    async def recv_many(self, max_count: int, max_bytes: int) -> list[Datagram]:
        """Receive up to *max_count* datagrams of at most *max_bytes* each (:apue:`16.5`, :apue:`16.8`, :apue:`14.4`).

        Takes what is queued without waiting; only when nothing is there does
        it wait for the first, as ``recv_from`` does, and then take the rest.
        A cancelled call loses nothing: it can be cancelled only while it
        waits for the first, before anything was taken.
        """
        check_count(max_count)
        check_size("max_bytes", max_bytes)
        sync = self._sync
        sync._raise_held()
        out: list[Datagram] = []
        sync._take_ready(out, max_count, max_bytes)
        if not out:
            sync._raise_held()
            out.append(await self.recv_from(max_bytes))
            if max_count > 1:
                sync._take_ready(out, max_count, max_bytes)
        return out


class UDPTransport(BatchOps[_sync.UDPTransport, InetAddress], AsyncAncillaryMixin):
    """An async UDP socket, bound and optionally connected (:apue:`16.5`, :apue:`16.8`, :apue:`14.4`).

    The twin of :class:`transports.UDPTransport`: one send is one datagram;
    one that does not fit the receive buffer is reported, never cut silently.

    >>> import asyncio
    >>> from transports import aio
    >>> async def main():
    ...     async with await aio.UDPTransport.bind("127.0.0.1", 0, timeout=5) as a:
    ...         async with await aio.UDPTransport.bind("127.0.0.1", 0, timeout=5) as b:
    ...             await a.send_to(b"hello", b.local_address)
    ...             return (await b.recv_from(100)).data
    >>> asyncio.run(main())
    b'hello'
    """

    __slots__ = ()
    network = "udp"
    _sync_class = _sync.UDPTransport

    async def send_to(
        self,
        data: Buffer,
        address: Destination,
        flags: SendFlags = SendFlags.NONE,
        *,
        source: str | PacketInfo | None = None,
    ) -> int:
        """Send one datagram to *address*, from *source* if given (:apue:`16.5`, :apue:`16.8`, :apue:`14.4`)."""
        if source is not None:
            return await self.send_from(data, address, source, flags)
        return await super().send_to(data, address, flags)

    bind = AsyncTwin(_sync.UDPTransport.bind)
    connect = AsyncTwin(_sync.UDPTransport.connect)

    async def send_segments(
        self, data: Buffer, segment_size: int, address: Destination | None = None, *, fallback: bool = False
    ) -> int:
        """Send *data* as datagrams of *segment_size* bytes in one system call (:apue:`16.5`, :apue:`16.8`, :apue:`14.4`).

        As the sync :meth:`transports.UDPTransport.send_segments` (same
        checks, same :class:`~transports.batch.OffloadUnavailable`); it waits
        only while the send buffer is full.
        """
        sync = self._sync
        try:
            return await self._retry(True, "send", 0, sync.send_segments, data, segment_size, address)
        except OffloadUnavailable:
            if not fallback:
                raise
        pieces = segments(data, segment_size)
        sent = await self.send_many(pieces if address is None else [(piece, address) for piece in pieces])
        return sum(len(piece) for piece in pieces[:sent])
