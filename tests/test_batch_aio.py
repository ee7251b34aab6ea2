"""Batches of datagrams on the async face: send_many, recv_many, send_segments, GRO (APUE 16.5, 16.8)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import transports._core.batch as core_batch
from conftest import TIMEOUT
from test_aio import Loop, aloop, turns  # noqa: F401  # aloop: the fixture `loop` stands on
from test_batch import needs_offload
from transports import Datagram, TransportTimeout, WouldBlock, aio
from transports.batch import OffloadUnavailable


@pytest.fixture
def loop(aloop: Loop) -> Loop:  # noqa: F811  # the fixture of tests/test_aio.py, by another name
    """An asyncio and a uvloop loop in turn."""
    return aloop


async def collect(
    receiver: aio.UDPTransport | aio.UnixDatagramTransport, count: int, max_bytes: int = 1000
) -> list[Datagram]:
    found: list[Datagram] = []
    while len(found) < count:
        got = await receiver.recv_many(count - len(found), max_bytes)
        assert 1 <= len(got) <= count - len(found)
        found += got
    return found


def test_aio_send_many_and_recv_many(loop: Loop) -> None:
    async def main() -> None:
        async with (
            await aio.UDPTransport.bind("127.0.0.1", 0, timeout=TIMEOUT) as a,
            await aio.UDPTransport.bind("127.0.0.1", 0, timeout=TIMEOUT) as b,
        ):
            payloads = [b"%d" % n * 30 for n in range(8)]
            assert await a.send_many([(p, b.local_address) for p in payloads]) == 8
            got = await collect(b, 8, max_bytes=40)
            assert [d.data for d in got] == [p[:40] for p in payloads]
            assert [d.truncated for d in got] == [len(p) > 40 for p in payloads]
            assert [d.size for d in got] == [len(p) for p in payloads]
            assert {d.address for d in got} == {a.local_address}
            b.timeout = 0
            with pytest.raises(WouldBlock):
                await b.recv_many(4, 10)
            with pytest.raises(ValueError, match="max_count must be >= 1"):
                await b.recv_many(0, 10)

    loop.run(main())


def test_aio_recv_many_waits_for_the_first(loop: Loop) -> None:
    async def main() -> None:
        async with (
            await aio.UDPTransport.bind("127.0.0.1", 0, timeout=TIMEOUT) as a,
            await aio.UDPTransport.bind("127.0.0.1", 0, timeout=TIMEOUT) as b,
        ):
            waiting = asyncio.create_task(b.recv_many(10, 100))
            await turns(3)
            assert not waiting.done()
            await a.send_to(b"late", b.local_address)
            assert [d.data for d in await waiting] == [b"late"]
            b.timeout = 0.05
            with pytest.raises(TransportTimeout):
                await b.recv_many(10, 100)

    loop.run(main())


def test_aio_unix_datagram_batches(loop: Loop, tmp_sock_dir: Path) -> None:
    async def main() -> None:
        async with (
            await aio.UnixDatagramTransport.bind(str(tmp_sock_dir / "a"), timeout=TIMEOUT) as a,
            await aio.UnixDatagramTransport.bind(str(tmp_sock_dir / "b"), timeout=TIMEOUT) as b,
        ):
            assert await a.send_many([(b"m%d" % n, b.local_address) for n in range(5)]) == 5
            got = await collect(b, 5)
            assert [d.data for d in got] == [b"m%d" % n for n in range(5)]
            assert {d.address for d in got} == {a.local_address}
            async with await aio.UnixDatagramTransport.connect(str(tmp_sock_dir / "b"), timeout=TIMEOUT) as c:
                assert await c.send_many([b"x", b"y"]) == 2
                assert [d.data for d in await collect(b, 2)] == [b"x", b"y"]

    loop.run(main())


@needs_offload
def test_aio_send_segments_to_a_gro_receiver(loop: Loop) -> None:
    async def main() -> None:
        async with (
            await aio.UDPTransport.bind("127.0.0.1", 0, timeout=TIMEOUT) as a,
            await aio.UDPTransport.bind("127.0.0.1", 0, timeout=TIMEOUT, gro=True) as b,
        ):
            data = bytes(n % 256 for n in range(64 * 20 + 5))
            assert await a.send_segments(data, 64, b.local_address) == len(data)
            first = await b.recv_from(100)
            rest = await collect(b, 20, max_bytes=100)
            got = [first, *rest]
            assert [d.data for d in got] == [data[at : at + 64] for at in range(0, len(data), 64)]
            assert {d.address for d in got} == {a.local_address}
            with pytest.raises(ValueError, match="data is empty"):
                await a.send_segments(b"", 64, b.local_address)

    loop.run(main())


def test_aio_send_segments_falls_back_only_when_asked(loop: Loop, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core_batch, "UDP_SEGMENT", None)

    async def main() -> None:
        async with (
            await aio.UDPTransport.bind("127.0.0.1", 0, timeout=TIMEOUT) as a,
            await aio.UDPTransport.bind("127.0.0.1", 0, timeout=TIMEOUT) as b,
        ):
            with pytest.raises(OffloadUnavailable):
                await a.send_segments(b"abcde", 2, b.local_address)
            assert await a.send_segments(b"abcde", 2, b.local_address, fallback=True) == 5
            assert [d.data for d in await collect(b, 3)] == [b"ab", b"cd", b"e"]

    loop.run(main())
