"""Two tasks on one direction of an aio byte stream: a clear error, never interleaved bytes (issue 15 item 6).

While a ``send_all`` (or ``sendfile``) waits for room, another task's
``send_all`` or ``sendfile`` on the same transport raises
:class:`RuntimeError` before sending a byte; while a ``recv_exactly`` (or a
``WAITALL`` receive, or ``recv_into_file``) waits for the rest of its
bytes, another task's receive raises before taking one. Trio's
``ConflictDetector`` is the model. The first call is never disturbed, the
direction is free again however it ended, and the two directions are
independent. Each test runs on asyncio and uvloop, over a Unix socketpair
and TCP.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from test_aio import Loop, aloop, open_pair, shrink_buffers, spin
from transports import RecvFlags, TransportTimeout, aio

BIG = 2_000_000

__all__ = ["aloop"]  # the event-loop fixture (asyncio, uvloop) of test_aio, used here


@pytest.fixture(params=["unix-socketpair", "tcp4"])
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def streams(
    name: str, stack: AsyncExitStack, directory: Path
) -> tuple[aio.UnixStreamTransport | aio.TCPTransport, aio.UnixStreamTransport | aio.TCPTransport]:
    pair = await open_pair(name, stack, directory)
    a, b = pair.a, pair.b
    assert isinstance(a, aio.UnixStreamTransport | aio.TCPTransport)
    assert isinstance(b, aio.UnixStreamTransport | aio.TCPTransport)
    shrink_buffers(a, b)
    return a, b


async def drain(transport: aio.StreamTransport, count: int) -> bytes:
    return await transport.recv_exactly(count)


SECOND_SENDS: dict[str, Callable[[aio.StreamTransport], Awaitable[object]]] = {
    "send_all": lambda t: t.send_all(b"intruder"),
}
SECOND_RECEIVES: dict[str, Callable[[aio.StreamTransport], Awaitable[object]]] = {
    "recv": lambda t: t.recv(10),
    "recv_into": lambda t: t.recv_into(bytearray(10)),
    "recv_exactly": lambda t: t.recv_exactly(3),
    "recv WAITALL": lambda t: t.recv(3, RecvFlags.WAITALL),
}


@pytest.mark.parametrize("second", sorted(SECOND_SENDS))
def test_a_second_sender_fails_clearly_and_sends_nothing(
    second: str, name: str, aloop: Loop, tmp_sock_dir: Path
) -> None:
    async def main() -> str:
        async with AsyncExitStack() as stack:
            a, b = await streams(name, stack, tmp_sock_dir)
            first = asyncio.create_task(a.send_all(b"a" * BIG))
            await spin(lambda: a._busy_send is not None, "the first send waits for room")
            with pytest.raises(RuntimeError) as caught:
                await SECOND_SENDS[second](a)
            received = await drain(b, BIG)
            await first
            assert received == b"a" * BIG  # not one byte of the second in the middle
            await a.send_all(b"free again")
            assert await b.recv_exactly(10) == b"free again"
            return str(caught.value)

    message = aloop.run(main())
    assert "another task's send_all is waiting on this transport" in message
    assert "nothing was sent" in message
    assert "asyncio.Lock" in message


def test_a_second_sendfile_fails_clearly(name: str, aloop: Loop, tmp_sock_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "data"
    source.write_bytes(b"f" * 1000)

    async def main() -> None:
        async with AsyncExitStack() as stack:
            a, b = await streams(name, stack, tmp_sock_dir)
            first = asyncio.create_task(a.send_all(b"a" * BIG))
            await spin(lambda: a._busy_send is not None, "the first send waits for room")
            assert isinstance(a, aio.SendfileCapable)
            with pytest.raises(RuntimeError, match=r"sendfile .*another task's send_all"):
                await a.sendfile(source)
            assert await drain(b, BIG) == b"a" * BIG
            await first
            # Now the other way round: a waiting sendfile refuses a send_all.
            big = tmp_path / "big"
            big.write_bytes(b"s" * BIG)
            filing = asyncio.create_task(a.sendfile(big))
            await spin(lambda: a._busy_send is not None, "the sendfile waits for room")
            with pytest.raises(RuntimeError, match="another task's sendfile is waiting"):
                await a.send_all(b"intruder")
            assert await drain(b, BIG) == b"s" * BIG
            assert await filing == BIG

    aloop.run(main())


@pytest.mark.parametrize("second", sorted(SECOND_RECEIVES))
def test_a_second_receiver_fails_clearly_and_takes_nothing(
    second: str, name: str, aloop: Loop, tmp_sock_dir: Path
) -> None:
    async def main() -> str:
        async with AsyncExitStack() as stack:
            a, b = await streams(name, stack, tmp_sock_dir)
            first = asyncio.create_task(b.recv_exactly(10))
            await a.send_all(b"01234")
            await spin(lambda: b._busy_recv is not None, "recv_exactly waits for the rest")
            with pytest.raises(RuntimeError) as caught:
                await SECOND_RECEIVES[second](b)
            await a.send_all(b"56789")
            assert await first == b"0123456789"
            await a.send_all(b"abc")
            assert await b.recv_exactly(3) == b"abc"  # the direction is free again
            return str(caught.value)

    message = aloop.run(main())
    assert "another task's recv_exactly is waiting on this transport" in message
    assert "nothing was received" in message


def test_recv_into_file_is_refused_while_recv_exactly_waits(
    aloop: Loop, tmp_sock_dir: Path, tmp_path: Path
) -> None:
    async def main() -> None:
        async with AsyncExitStack() as stack:
            a, b = await streams("unix-socketpair", stack, tmp_sock_dir)
            assert isinstance(b, aio.SendfileCapable)
            first = asyncio.create_task(b.recv_exactly(4))
            await spin(lambda: b._busy_recv is not None, "recv_exactly waits")
            with pytest.raises(RuntimeError, match=r"recv_into_file .*another task's recv_exactly"):
                await b.recv_into_file(tmp_path / "out", 4)
            assert not (tmp_path / "out").exists()
            await a.send_all(b"data")
            assert await first == b"data"

    aloop.run(main())


def test_sending_and_receiving_tasks_do_not_conflict(name: str, aloop: Loop, tmp_sock_dir: Path) -> None:
    async def main() -> None:
        async with AsyncExitStack() as stack:
            a, b = await streams(name, stack, tmp_sock_dir)
            # One task sends a lot on a while another waits to receive on a: two directions.
            sending = asyncio.create_task(a.send_all(b"x" * BIG))
            receiving = asyncio.create_task(a.recv_exactly(5))
            await spin(lambda: a._busy_send is not None and a._busy_recv is not None, "both wait")
            await b.send_all(b"hello")
            assert await receiving == b"hello"
            assert await drain(b, BIG) == b"x" * BIG
            await sending

    aloop.run(main())


def test_plain_receives_may_wait_side_by_side(aloop: Loop) -> None:
    async def main() -> list[bytes]:
        a, b = aio.socketpair()
        async with a, b:
            tasks = [asyncio.create_task(b.recv(100)) for _ in range(2)]
            await spin(lambda: len(b._readers) == 2, "both receives wait")
            await a.send_all(b"one")
            await spin(lambda: any(t.done() for t in tasks), "one receive got the bytes")
            await a.send_all(b"two")
            return sorted(await asyncio.gather(*tasks))

    assert aloop.run(main()) == [b"one", b"two"]


def test_the_direction_is_free_after_a_timeout_or_a_cancellation(aloop: Loop) -> None:
    async def main() -> None:
        a, b = aio.socketpair()
        async with a, b:
            b.timeout = 0.05
            with pytest.raises(TransportTimeout):
                await b.recv_exactly(4)
            b.timeout = 5
            waiting = asyncio.create_task(b.recv_exactly(4))
            await spin(lambda: b._busy_recv is not None, "recv_exactly waits")
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            assert b._busy_recv is None
            await a.send_all(b"free")
            assert await b.recv_exactly(4) == b"free"

    aloop.run(main())
