"""The fault-injecting wrapper on the async face, over real aio sockets and over aio memory.

The faults are decided by the same code on both faces
(:class:`transports.testing.faults.FaultLogic`); these tests check that the
async wrappers are shaped exactly like what they wrap and that each fault
happens when awaited: short transfers, resets seen by a real TCP peer,
lost and repeated datagrams, and stalls that leave the loop running.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, cast

import pytest

import transports
from conftest import TIMEOUT
from test_aio import Loop, aloop, turns  # noqa: F401  # aloop: the fixture `loop` stands on
from transports import ConnectionReset, Kind, UnexpectedEOF, aio
from transports import protocols as sync_protocols
from transports.aio import protocols as aio_protocols
from transports.testing import aio_memory
from transports.testing import faults as sync_faults
from transports.testing.aio_faults import (
    Faults,
    FaultyDatagramTransport,
    FaultyMessageTransport,
    FaultyStreamTransport,
    FaultyTransport,
    Passthrough,
)


@asynccontextmanager
async def tcp_pair() -> AsyncIterator[tuple[aio.TCPTransport, aio.TCPTransport]]:
    async with await aio.TCPListener.listen("127.0.0.1", 0, timeout=TIMEOUT) as listener:
        async with await aio.TCPTransport.connect("127.0.0.1", listener.address.port, timeout=TIMEOUT) as a:
            async with await listener.accept() as b:
                b.timeout = TIMEOUT
                yield a, b


async def unix_stream() -> tuple[aio.Transport, aio.Transport]:
    return aio.socketpair("stream")


async def unixgram() -> tuple[aio.Transport, aio.Transport]:
    return aio.socketpair("datagram")


async def unixpacket() -> tuple[aio.Transport, aio.Transport]:
    return aio.socketpair("seqpacket")


async def udp() -> tuple[aio.Transport, aio.Transport]:
    a = await aio.UDPTransport.bind("127.0.0.1", 0, timeout=TIMEOUT)
    b = await aio.UDPTransport.bind("127.0.0.1", 0, timeout=TIMEOUT)
    return a, b


async def memory_stream() -> tuple[aio.Transport, aio.Transport]:
    return aio_memory.MemoryStreamTransport.pair()


async def memorygram() -> tuple[aio.Transport, aio.Transport]:
    return aio_memory.MemoryDatagramTransport.pair()


SHAPES: list[tuple[Callable[[], Awaitable[tuple[aio.Transport, aio.Transport]]], type, bool, bool]] = [
    (unix_stream, FaultyStreamTransport, True, False),
    (memory_stream, FaultyStreamTransport, True, False),
    (unixgram, FaultyDatagramTransport, False, True),
    (udp, FaultyDatagramTransport, False, True),
    (memorygram, FaultyDatagramTransport, False, True),
    (unixpacket, FaultyMessageTransport, False, False),
]


@pytest.mark.parametrize(
    ("make", "shape", "stream", "datagram"), SHAPES, ids=[make.__name__ for make, *_ in SHAPES]
)
def test_the_wrapper_satisfies_exactly_the_inner_aio_protocols(
    loop: Loop,
    make: Callable[[], Awaitable[tuple[aio.Transport, aio.Transport]]],
    shape: type,
    stream: bool,
    datagram: bool,
) -> None:
    async def main() -> None:
        a, b = await make()
        async with a, b:
            flaky = FaultyTransport(a)
            assert type(flaky) is shape
            assert isinstance(flaky, aio_protocols.Transport)
            assert isinstance(flaky, aio_protocols.StreamTransport) is stream
            assert isinstance(a, aio_protocols.StreamTransport) is stream
            assert isinstance(flaky, aio_protocols.DatagramTransport) is datagram
            assert isinstance(a, aio_protocols.DatagramTransport) is datagram
            assert callable(getattr(flaky, "shutdown", None)) is (a.kind is not Kind.DATAGRAM)
            assert not isinstance(flaky, aio_protocols.SendfileCapable)
            assert not satisfies(flaky, sync_protocols.Transport)
            assert flaky.kind is a.kind
            assert flaky.local_address == a.local_address

    loop.run(main())


@pytest.fixture
def loop(aloop: Loop) -> Loop:  # noqa: F811  # the fixture of tests/test_aio.py, by another name
    """An event loop of each kind (asyncio, uvloop), from tests/test_aio.py."""
    return aloop


def satisfies(obj: object, protocol: type) -> bool:
    """``isinstance`` for the checks a type checker already knows the answer to."""
    return isinstance(obj, protocol)


def test_each_face_refuses_the_other_faces_transport(loop: Loop) -> None:
    async def main() -> None:
        a, b = aio.socketpair()
        async with a, b:
            with pytest.raises(TypeError, match=r"aio_faults\.FaultyTransport"):
                sync_faults.FaultyTransport(cast(Any, a))  # the misuse under test
        c, d = transports.socketpair()
        with c, d, pytest.raises(TypeError, match=r"testing\.faults\.FaultyTransport"):
            FaultyTransport(cast(Any, c))  # the misuse under test

    loop.run(main())


def test_short_transfers_over_a_real_tcp_pair_still_deliver_everything(loop: Loop) -> None:
    async def main() -> None:
        async with tcp_pair() as (a, b):
            sender, receiver = FaultyTransport(a, max_send=7), FaultyTransport(b, max_recv=5)
            assert await sender.send(b"0123456789") == 7
            assert await receiver.recv_exactly(7) == b"0123456"
            data = os.urandom(200_000)
            sending = asyncio.create_task(sender.send_all(data))
            assert await receiver.recv_exactly(len(data)) == data
            await asyncio.wait_for(sending, TIMEOUT)
            assert sender.last_bytes_sent == len(data)
            assert sender.bytes_sent == 7 + len(data)

    loop.run(main())


def test_short_reads_return_at_most_max_recv(loop: Loop) -> None:
    async def main() -> None:
        a, b = aio_memory.MemoryStreamTransport.pair()
        async with a, FaultyTransport(b, max_recv=3) as receiver:
            receiver.timeout = TIMEOUT
            await a.send_all(b"abcdefgh")
            assert await receiver.recv(100) == b"abc"
            buffer = bytearray(100)
            assert await receiver.recv_into(buffer) == 3
            assert buffer[:3] == b"def"
            a.close()
            with pytest.raises(UnexpectedEOF) as info:
                await receiver.recv_exactly(5)
            assert info.value.partial == b"gh"

    loop.run(main())


def test_reset_after_n_bytes_is_a_real_reset_on_aio_tcp(loop: Loop) -> None:
    async def main() -> None:
        async with tcp_pair() as (a, peer):
            sender = FaultyTransport(a, reset_after=3)
            with pytest.raises(ConnectionReset) as info:
                await sender.send_all(b"abcdef")
            assert info.value.bytes_sent == 3
            assert sender.last_bytes_sent == 3
            assert sender.closed
            assert await peer.recv_exactly(3) == b"abc"
            with pytest.raises(ConnectionReset):
                await peer.recv(10)

    loop.run(main())


def test_dropped_and_duplicated_datagrams_over_aio_memory(loop: Loop) -> None:
    async def main() -> list[str]:
        a, b = aio_memory.MemoryDatagramTransport.pair()
        async with FaultyTransport(a, Faults(drop_every=3, duplicate_every=4)) as sender, b:
            b.timeout = TIMEOUT
            for number in range(1, 9):
                assert await sender.send(str(number).encode()) == 1
            await sender.send_to(b"9", b.local_address)  # the tenth message: kept, not repeated
            await a.send(b"end")
            got = []
            while (message := await b.recv(10)) != b"end":
                got.append(message.decode())
            return got

    # 3, 6 and 9 are lost; 4 and 8 arrive twice: the sync wrapper's decisions, awaited.
    assert loop.run(main()) == ["1", "2", "4", "4", "5", "7", "8", "8"]


def test_a_stall_awaits_and_leaves_the_loop_running(loop: Loop) -> None:
    async def main() -> None:
        a, b = aio_memory.MemoryStreamTransport.pair()
        async with FaultyTransport(a, delay=TIMEOUT) as flaky, b:
            task = asyncio.create_task(flaky.send(b"late"))
            await turns(5)  # the loop runs while the send stalls (time.sleep would have blocked it)
            assert not task.done()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            b.timeout = 0
            with pytest.raises(transports.WouldBlock):
                await b.recv(10)  # the cancelled send sent nothing

    loop.run(main())


def test_passthrough_is_a_base_for_async_fakes(loop: Loop) -> None:
    class Counting(Passthrough[aio.Transport]):
        received = 0

        async def recv(
            self, max_bytes: int, flags: transports.RecvFlags = transports.RecvFlags.NONE
        ) -> bytes:
            data = await super().recv(max_bytes, flags)
            self.received += len(data)
            return data

    async def main() -> None:
        a, b = aio.socketpair()
        async with a, Counting(b) as counting:
            b.timeout = TIMEOUT
            await a.send_all(b"hello")
            assert await counting.recv(100) == b"hello"
            assert counting.received == 5
            assert counting.fileno() == b.fileno()
            assert counting.raw_socket is b.raw_socket  # what it does not wrap goes to inner
            assert isinstance(counting, aio_protocols.Transport)
            assert not isinstance(counting, aio_protocols.StreamTransport)
        assert counting.closed

    loop.run(main())
