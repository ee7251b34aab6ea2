"""``transports.aio.MessageStream`` and ``LineStream``: the sync framing's rules, awaited (issue 15 item 1).

Every test runs on asyncio and on uvloop (``aloop``), over our own
transports (a Unix socketpair, TCP) and, where the path differs, over an
async stream that is not one of ours (:class:`Relay`), which the framing
drives through ``send_all`` and ``recv_into`` only. The hostile-peer
guarantees are here for the async face: a header over the limit refused
before anything of its body is read, a message that trickles in across
timeouts and cancellations resumed, senders that never interleave. The
memory half (growth follows the bytes that arrived) is measured in a child
process by ``tests/test_framing_memory.py``.
"""

from __future__ import annotations

import asyncio
import struct
import subprocess
import sys
from contextlib import AsyncExitStack, closing
from pathlib import Path

import pytest

from conftest import TIMEOUT
from test_aio import Loop, aloop, open_pair, shrink_buffers, spin
from transports import (
    FrameError,
    FrameTooLarge,
    RecvFlags,
    SendFlags,
    TransportClosed,
    TransportTimeout,
    UnexpectedEOF,
    WouldBlock,
    aio,
    socketpair,
)
from transports import LineStream as SyncLineStream
from transports import MessageStream as SyncMessageStream
from transports._compat import Buffer
from transports.framing import DEFAULT_MAX_SIZE
from transports.protocols import ShutdownHow
from transports.testing.aio_faults import Passthrough

__all__ = ["aloop"]  # the event-loop fixture (asyncio, uvloop) of test_aio, used here


def pair(timeout: float | None = TIMEOUT) -> tuple[aio.UnixStreamTransport, aio.UnixStreamTransport]:
    a, b = aio.socketpair()
    a.timeout = b.timeout = timeout
    return a, b


class Relay(Passthrough[aio.UnixStreamTransport]):
    """An async byte stream that is not one of ours: it hands every call to *inner*.

    *step* caps the bytes of each receive, the worst a kernel may do, and
    ``asked`` records the room each ``recv_into`` offered.
    """

    inner: aio.UnixStreamTransport

    def __init__(self, inner: aio.UnixStreamTransport, step: int | None = None) -> None:
        super().__init__(inner)
        self.step = step
        self.asked: list[int] = []

    @property
    def last_bytes_sent(self) -> int | None:
        return self.inner.last_bytes_sent

    def shutdown(self, how: ShutdownHow = "write") -> None:
        self.inner.shutdown(how)

    async def send_all(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> None:
        await self.inner.send_all(data, flags)

    async def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        return await self.inner.recv(min(max_bytes, self.step or max_bytes), flags)

    async def recv_into(self, buffer: Buffer, nbytes: int = 0, flags: RecvFlags = RecvFlags.NONE) -> int:
        with memoryview(buffer) as raw, raw.cast("B") as view:
            room = nbytes or len(view)
            self.asked.append(room)
            return await self.inner.recv_into(view, min(room, self.step or room), flags)

    async def recv_exactly(self, n: int) -> bytes:
        return await self.inner.recv_exactly(n)


def test_relay_is_an_async_stream_but_not_ours() -> None:
    a, b = pair()
    with closing(a), closing(b):
        relay = Relay(a)
        assert isinstance(relay, aio.StreamTransport)
        stream = aio.MessageStream(relay)
        assert stream.transport is relay
        assert "over <" in repr(stream)


# -- messages arrive whole --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["unix-socketpair", "tcp4"])
def test_messages_of_every_size_arrive_whole(name: str, aloop: Loop, tmp_sock_dir: Path) -> None:
    sizes = [0, 1, 4, 63, 64 * 1024, 300_000, 5]

    async def main() -> list[bytes]:
        async with AsyncExitStack() as stack:
            ends = await open_pair(name, stack, tmp_sock_dir)
            a, b = ends.streams()
            left, right = aio.MessageStream(a), aio.MessageStream(b)

            async def send() -> None:
                for n, size in enumerate(sizes):
                    await left.send_message(bytes([n]) * size)
                a.shutdown("write")

            sender = asyncio.create_task(send())
            got = [message async for message in right]
            await sender
            return got

    assert aloop.run(main()) == [bytes([n]) * size for n, size in enumerate(sizes)]


@pytest.mark.parametrize("step", [1, 3, 1000])
def test_any_split_of_the_receives_over_a_stream_not_ours(step: int, aloop: Loop) -> None:
    async def main() -> tuple[list[bytes], list[int]]:
        a, b = pair()
        async with a, b:
            relay = Relay(b, step)
            left, right = aio.MessageStream(Relay(a)), aio.MessageStream(relay)
            await left.send_message(b"first")
            await left.send_message(b"")
            await left.send_message(b"x" * 5000)
            a.shutdown("write")
            return [message async for message in right], relay.asked

    messages, asked = aloop.run(main())
    assert messages == [b"first", b"", b"x" * 5000]
    assert max(asked) <= 64 * 1024  # the room offered never follows an announced size


def test_wire_format_is_the_sync_one(aloop: Loop) -> None:
    async def main() -> tuple[bytes, bytes | None]:
        a, b = pair()
        async with a, b:
            await aio.MessageStream(a).send_message(b"hi")
            wire = await b.recv_exactly(6)
            await b.send_all(struct.pack("!I", 3) + b"abc")
            return wire, await aio.MessageStream(a).recv_message()

    assert aloop.run(main()) == (b"\x00\x00\x00\x02hi", b"abc")


def test_reads_no_byte_past_the_message(aloop: Loop) -> None:
    async def main() -> tuple[bytes | None, bytes]:
        a, b = pair()
        async with a, b:
            await aio.MessageStream(a).send_message(b"one")
            await a.send_all(b"raw bytes after it")
            return await aio.MessageStream(b).recv_message(), await b.recv_exactly(18)

    assert aloop.run(main()) == (b"one", b"raw bytes after it")


def test_lines_with_read_ahead(aloop: Loop) -> None:
    async def main() -> tuple[list[bytes | None], bytes]:
        a, b = pair()
        async with a, b:
            right = aio.LineStream(b, delimiter=b"\r\n")
            await aio.LineStream(a, delimiter=b"\r\n").send_message(b"EHLO example.org")
            await a.send_all(b"QUIT\r\nhalf")
            got = [await right.recv_message(), await right.recv_message()]
            return got, right.buffered

    assert aloop.run(main()) == ([b"EHLO example.org", b"QUIT"], b"half")


def test_line_stream_properties_and_refusals(aloop: Loop) -> None:
    async def main() -> None:
        a, b = pair()
        async with a, b:
            stream = aio.LineStream(a, delimiter=b"--", max_length=10)
            assert (stream.delimiter, stream.max_length, stream.buffered) == (b"--", 10, b"")
            assert repr(stream).startswith("<LineStream delimiter=b'--' max_length=10 over <aio.")
            with pytest.raises(ValueError, match="delimiter"):
                await stream.send_message(b"a--b")
            with pytest.raises(FrameTooLarge):
                await stream.send_message(b"x" * 11)
            b.timeout = 0
            with pytest.raises(WouldBlock):
                await b.recv(1)  # nothing was sent

    aloop.run(main())


def test_endless_line_is_refused_at_the_limit(aloop: Loop) -> None:
    async def main() -> None:
        a, b = pair()
        async with a, b:
            await a.send_all(b"y" * 200)
            right = aio.LineStream(b, max_length=100)
            with pytest.raises(FrameTooLarge, match="a line of at least"):
                await right.recv_message()
            with pytest.raises(FrameError, match="out of step"):
                await right.recv_message()

    aloop.run(main())


# -- the end of the stream ---------------------------------------------------------------------------


@pytest.mark.parametrize("cut", [1, 3, 4 + 5])
def test_end_inside_a_message(cut: int, aloop: Loop) -> None:
    wire = struct.pack("!I", 10) + b"abcdefghij"

    async def main() -> UnexpectedEOF:
        a, b = pair()
        async with a, b:
            await a.send_all(wire[:cut])
            a.shutdown("write")
            with pytest.raises(UnexpectedEOF) as caught:
                await aio.MessageStream(b).recv_message()
            return caught.value

    error = aloop.run(main())
    assert error.partial == (wire[:cut] if cut < 4 else wire[4:cut])
    assert error.expected == (4 if cut < 4 else 10)


def test_line_cut_at_the_end(aloop: Loop) -> None:
    async def main() -> UnexpectedEOF:
        a, b = pair()
        async with a, b:
            await a.send_all(b"whole\nhalf")
            a.shutdown("write")
            right = aio.LineStream(b)
            assert await right.recv_message() == b"whole"
            with pytest.raises(UnexpectedEOF, match="inside a line") as caught:
                await right.recv_message()
            return caught.value

    assert aloop.run(main()).partial == b"half"


# -- a hostile peer ------------------------------------------------------------------------------------


@pytest.mark.parametrize("relayed", [False, True], ids=["ours", "not-ours"])
def test_header_over_the_limit_is_refused_before_reading_the_body(relayed: bool, aloop: Loop) -> None:
    async def main() -> tuple[FrameTooLarge, bytes]:
        a, b = pair()
        async with a, b:
            await a.send_all(b"\xff\xff\xff\xff" + b"the rest is never read")
            stream = aio.MessageStream(Relay(b) if relayed else b)
            with pytest.raises(FrameTooLarge) as caught:
                await stream.recv_message()
            with pytest.raises(FrameError, match="out of step"):
                await stream.recv_message()
            return caught.value, await b.recv(100)

    error, rest = aloop.run(main())
    assert (error.size, error.limit) == (0xFFFF_FFFF, DEFAULT_MAX_SIZE)
    assert "nothing of it was read" in str(error)
    assert rest == b"the rest is never read"


def test_limit_is_exact_both_ways(aloop: Loop) -> None:
    async def main() -> None:
        a, b = pair()
        async with a, b:
            left, right = aio.MessageStream(a, max_size=10), aio.MessageStream(b, max_size=10)
            await left.send_message(b"x" * 10)
            assert await right.recv_message() == b"x" * 10
            with pytest.raises(FrameTooLarge, match="nothing was sent"):
                await left.send_message(b"x" * 11)
            await left.send_message(b"in step")  # a refused send leaves the stream as it was
            assert await right.recv_message() == b"in step"

    aloop.run(main())


@pytest.mark.parametrize("relayed", [False, True], ids=["ours", "not-ours"])
def test_drip_fed_message_resumes_across_timeouts(relayed: bool, aloop: Loop) -> None:
    async def main() -> bytes | None:
        a, b = pair(timeout=0.05)
        async with a, b:
            right = aio.MessageStream(Relay(b) if relayed else b)
            await a.send_all(struct.pack("!I", 300))
            for done in range(0, 300, 100):
                with pytest.raises(TransportTimeout, match=f"after {done} of the 300 bytes of a message"):
                    await right.recv_message()
                assert b.timeout == 0.05  # the whole-message budget put the timeout back
                await a.send_all(bytes([done // 100]) * 100)
            return await right.recv_message()

    assert aloop.run(main()) == b"\x00" * 100 + b"\x01" * 100 + b"\x02" * 100


def test_timeout_inside_the_header_resumes(aloop: Loop) -> None:
    async def main() -> bytes | None:
        a, b = pair(timeout=0.05)
        async with a, b:
            right = aio.MessageStream(b)
            await a.send_all(b"\x00\x00")
            with pytest.raises(TransportTimeout, match="after 2 bytes of a message's 4-byte length header"):
                await right.recv_message()
            await a.send_all(b"\x00\x02ok")
            return await right.recv_message()

    assert aloop.run(main()) == b"ok"


def test_cancelled_receive_loses_nothing(aloop: Loop) -> None:
    async def main() -> bytes | None:
        a, b = pair()
        async with a, b:
            right = aio.MessageStream(b)
            await a.send_all(struct.pack("!I", 6) + b"abc")
            receiving = asyncio.create_task(right.recv_message())
            await spin(lambda: b._busy_recv is not None, "the receive waits for the rest")
            receiving.cancel()
            with pytest.raises(asyncio.CancelledError):
                await receiving
            await a.send_all(b"def")
            return await right.recv_message()

    assert aloop.run(main()) == b"abcdef"


def test_non_blocking_receive_resumes(aloop: Loop) -> None:
    async def main() -> bytes | None:
        a, b = pair(timeout=0)
        async with a, b:
            right = aio.MessageStream(b)
            await a.send_all(struct.pack("!I", 4) + b"ab")
            with pytest.raises(WouldBlock):
                await right.recv_message()
            await a.send_all(b"cd")
            return await right.recv_message()

    assert aloop.run(main()) == b"abcd"


@pytest.mark.parametrize("relayed", [False, True], ids=["ours", "not-ours"])
def test_concurrent_senders_never_interleave(relayed: bool, aloop: Loop) -> None:
    senders, count, size = 4, 6, 100_000

    async def main() -> dict[int, list[int]]:
        a, b = pair()
        async with a, b:
            shrink_buffers(a, b)
            out = aio.MessageStream(Relay(a) if relayed else a)

            async def send(who: int) -> None:
                for n in range(count):
                    await out.send_message(bytes([who, n]) * (size // 2))

            tasks = [asyncio.create_task(send(who)) for who in range(senders)]
            into = aio.MessageStream(b)
            seen: dict[int, list[int]] = {who: [] for who in range(senders)}
            for _ in range(senders * count):
                message = await into.recv_message()
                assert message is not None
                who, n = message[0], message[1]
                assert message == bytes([who, n]) * (size // 2)
                seen[who].append(n)
            await asyncio.gather(*tasks)
            return seen

    assert aloop.run(main()) == {who: list(range(count)) for who in range(senders)}


def test_concurrent_receivers_each_get_whole_messages(aloop: Loop) -> None:
    async def main() -> list[bytes | None]:
        a, b = pair()
        async with a, b:
            into = aio.MessageStream(b)
            tasks = [asyncio.create_task(into.recv_message()) for _ in range(3)]
            await spin(lambda: b._busy_recv is not None, "one receive waits on the socket")
            for n in range(3):
                await a.send_all(struct.pack("!I", 50_000))
                await a.send_all(bytes([n]) * 50_000)
            return list(await asyncio.gather(*tasks))

    assert aloop.run(main()) == [bytes([n]) * 50_000 for n in range(3)]


def test_send_cancelled_part_way_puts_the_stream_out_of_step(aloop: Loop) -> None:
    async def main() -> None:
        a, b = pair()
        async with a, b:
            shrink_buffers(a, b)
            left = aio.MessageStream(a)
            sending = asyncio.create_task(left.send_message(b"x" * 1_000_000))
            await spin(lambda: a._busy_send is not None, "the send waits for room")
            sending.cancel()
            with pytest.raises(asyncio.CancelledError):
                await sending
            assert 0 < (a.last_bytes_sent or 0) < 1_000_004
            with pytest.raises(FrameError, match="stopped after"):
                await left.send_message(b"late")

    aloop.run(main())


def test_waiting_send_message_refuses_a_raw_send_all(aloop: Loop) -> None:
    async def main() -> None:
        a, b = pair()
        async with a, b:
            shrink_buffers(a, b)
            sending = asyncio.create_task(aio.MessageStream(a).send_message(b"x" * 1_000_000))
            await spin(lambda: a._busy_send is not None, "the send waits for room")
            with pytest.raises(RuntimeError, match="another task's send_message is waiting"):
                await a.send_all(b"would cut into the frame")
            sending.cancel()
            with pytest.raises(asyncio.CancelledError):
                await sending

    aloop.run(main())


# -- closing and refusing -----------------------------------------------------------------------------


def test_close_wakes_a_blocked_receive(aloop: Loop) -> None:
    async def main() -> None:
        a, b = pair(timeout=None)
        async with a:
            right = aio.MessageStream(b)
            receiving = asyncio.create_task(right.recv_message())
            await spin(lambda: b._busy_recv is not None, "the receive waits")
            right.close()
            with pytest.raises(TransportClosed):
                await receiving
            assert b.closed

    aloop.run(main())


def test_aclose_and_async_with_close_the_transport(aloop: Loop) -> None:
    async def main() -> None:
        a, b = pair()
        async with aio.MessageStream(a) as left:
            assert left.transport is a
        assert a.closed
        await aio.LineStream(b).aclose()
        assert b.closed

    aloop.run(main())


def test_each_face_refuses_the_other_faces_transport() -> None:
    a, b = socketpair()
    with a, b:
        with pytest.raises(TypeError, match=r"is a sync transport: use transports\.MessageStream"):
            aio.MessageStream(a)  # type: ignore[arg-type]  # the point of the test
        with pytest.raises(TypeError, match=r"is a sync transport: use transports\.LineStream"):
            aio.LineStream(a)  # type: ignore[arg-type]  # the point of the test
    c, d = aio.socketpair()
    with closing(c), closing(d):
        with pytest.raises(TypeError, match=r"is an async transport: use transports\.aio\.MessageStream"):
            SyncMessageStream(c)  # type: ignore[arg-type]  # the point of the test
        with pytest.raises(TypeError, match=r"is an async transport: use transports\.aio\.LineStream"):
            SyncLineStream(c)  # type: ignore[arg-type]  # the point of the test
    e, f = aio.socketpair("seqpacket")
    with closing(e), closing(f), pytest.raises(TypeError, match="keep message boundaries already"):
        aio.MessageStream(e)  # type: ignore[arg-type]  # the point of the test


def test_exported_lazily_from_transports_aio() -> None:
    code = (
        "import sys, transports.aio as aio\n"
        "assert 'transports.framing.aio' not in sys.modules\n"
        "print(aio.MessageStream.__module__, aio.LineStream.__name__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["transports.aio", "LineStream"]
    assert {"MessageStream", "LineStream"} <= set(aio.__all__)
