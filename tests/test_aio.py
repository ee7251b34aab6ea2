"""``transports.aio`` beyond the conformance kit, on asyncio's own loop and on uvloop.

The contract every async transport keeps is checked by the kit
(:mod:`transports.testing`, run on every kind and both loops by
tests/test_kit_kinds.py). What is left here is the async face's own: each
kind's class and protocols, the ``errno``/``op`` fields and messages of its
errors, the table of refused flags, transfers larger than the kit makes,
timeouts that report ``bytes_sent``, a transport outliving its loop, and
cancellation. Every test runs once per event loop (``aloop``) and, through
the ``apair`` fixtures, once per kind. A test is a plain function that runs
one coroutine on the fixture's loop; every coroutine is bounded by
:data:`TEST_LIMIT` and every transport has a timeout, so nothing can hang.
The loop fixture fails a test that leaves a task running.

The helpers here (``Loop``, ``open_pair`` ...) are imported by the other
``test_aio_*`` modules and by tests/test_kit_kinds.py.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import random
import socket
import stat
import termios
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, TypeVar, cast

import attrs
import pytest

import test_kit_builtin as builtin_refusals
from conftest import HAS_IPV6, TIMEOUT
from transports import (
    InetAddress,
    Kind,
    RecvFlags,
    SendFlags,
    TransportClosed,
    TransportError,
    TransportTimeout,
    UnsupportedFlag,
    WouldBlock,
    aio,
)
from transports import Transport as SyncTransport
from transports.options import SO_RCVBUF, SO_SNDBUF

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is in the dev extra
    uvloop = None  # type: ignore[assignment]

T = TypeVar("T")
MiB = 1 << 20
#: Seconds one test's coroutine may run in all.
TEST_LIMIT = 20.0

LOOPS = [
    pytest.param("asyncio", id="asyncio"),
    pytest.param(
        "uvloop", id="uvloop", marks=pytest.mark.skipif(uvloop is None, reason="uvloop is not installed")
    ),
]


# -- the event loop ------------------------------------------------------------------------------


async def _bounded(coro: Coroutine[Any, Any, T], limit: float) -> T:
    async with asyncio.timeout(limit):
        return await coro


async def _others() -> set[asyncio.Task[Any]]:
    return asyncio.all_tasks() - {asyncio.current_task()}


class Loop:
    """One event loop for one test: runs its coroutines, then checks that none left a task behind."""

    def __init__(self, name: str) -> None:
        self.name = name
        factory = uvloop.new_event_loop if name == "uvloop" else None
        self._runner = asyncio.Runner(loop_factory=factory)
        self._runner.get_loop()  # make the loop (and its descriptors) now, before any fd count

    def run(self, coro: Coroutine[Any, Any, T], limit: float = TEST_LIMIT) -> T:
        """Run *coro* to completion, failing it after *limit* seconds."""
        return self._runner.run(_bounded(coro, limit))

    def close(self) -> None:
        leftover = self._runner.run(_others())
        self._runner.close()  # also joins the default executor's threads
        assert not leftover, f"tasks left running: {leftover}"


@pytest.fixture(params=LOOPS)
def aloop(request: pytest.FixtureRequest) -> Iterator[Loop]:
    """An event loop of each kind (asyncio, uvloop); no task or thread may outlive the test."""
    threads = set(threading.enumerate())
    loop = Loop(request.param)
    try:
        yield loop
    finally:
        loop.close()
    extra = [t for t in threading.enumerate() if t not in threads and t.is_alive()]
    assert not extra, f"threads left running: {extra}"


async def spin(condition: Callable[[], bool], what: str) -> None:
    """Yield to the loop until *condition* holds (the test's time limit bounds it)."""
    while not condition():
        await asyncio.sleep(0)  # one loop iteration, no clock involved
    assert condition(), what


async def turns(count: int) -> None:
    """Let the loop run *count* iterations."""
    for _ in range(count):
        await asyncio.sleep(0)


def unread(transport: aio.Transport) -> int:
    """Bytes waiting in the socket's receive queue (FIONREAD)."""
    raw = fcntl.ioctl(transport.fileno(), termios.FIONREAD, b"\0\0\0\0")
    return int.from_bytes(raw, "little", signed=True)


# -- connected pairs ---------------------------------------------------------------------------


@attrs.frozen
class APair:
    """Two connected async transports of one kind."""

    name: str
    a: aio.Transport
    b: aio.Transport
    family: int

    @property
    def kind(self) -> Kind:
        return self.a.kind

    @property
    def is_stream(self) -> bool:
        return self.a.kind is Kind.STREAM

    def streams(self) -> tuple[aio.StreamTransport, aio.StreamTransport]:
        assert isinstance(self.a, aio.StreamTransport)
        assert isinstance(self.b, aio.StreamTransport)
        return self.a, self.b

    def datagrams(self) -> tuple[aio.DatagramTransport, aio.DatagramTransport]:
        assert isinstance(self.a, aio.DatagramTransport)
        assert isinstance(self.b, aio.DatagramTransport)
        return self.a, self.b


STREAM_PAIRS = ["tcp4", "tcp6", "unix", "unix-socketpair"]
DATAGRAM_PAIRS = ["udp4", "udp6", "unixgram-socketpair", "unixgram-bound"]
SEQPACKET_PAIRS = ["unixpacket", "unixpacket-socketpair"]
PAIR_NAMES = STREAM_PAIRS + DATAGRAM_PAIRS + SEQPACKET_PAIRS


async def _tcp(stack: AsyncExitStack, host: str) -> tuple[aio.Transport, aio.Transport]:
    async with await aio.TCPListener.listen(host, 0, timeout=TIMEOUT) as listener:
        a = await stack.enter_async_context(
            await aio.TCPTransport.connect(host, listener.address.port, timeout=TIMEOUT)
        )
        b = await stack.enter_async_context(await listener.accept())
    return a, b


async def _udp(stack: AsyncExitStack, host: str) -> tuple[aio.Transport, aio.Transport]:
    b = await stack.enter_async_context(await aio.UDPTransport.bind(host, 0, timeout=TIMEOUT))
    a = await stack.enter_async_context(
        await aio.UDPTransport.connect(
            host, b.local_address.port, source=InetAddress(host, 0), timeout=TIMEOUT
        )
    )
    b.raw_socket.connect(a.raw_socket.getsockname())  # no method fixes the peer of a bound socket
    return a, b


async def _unix(
    stack: AsyncExitStack, directory: Path, seqpacket: bool
) -> tuple[aio.Transport, aio.Transport]:
    path = directory / ("packet.sock" if seqpacket else "stream.sock")
    if seqpacket:
        async with await aio.UnixSeqpacketListener.listen(path, timeout=TIMEOUT) as plistener:
            a: aio.Transport = await stack.enter_async_context(
                await aio.UnixSeqpacketTransport.connect(path, timeout=TIMEOUT)
            )
            b: aio.Transport = await stack.enter_async_context(await plistener.accept())
        return a, b
    async with await aio.UnixListener.listen(path, timeout=TIMEOUT) as listener:
        a = await stack.enter_async_context(await aio.UnixStreamTransport.connect(path, timeout=TIMEOUT))
        b = await stack.enter_async_context(await listener.accept())
    return a, b


async def _unixgram(stack: AsyncExitStack, directory: Path) -> tuple[aio.Transport, aio.Transport]:
    server, client = directory / "server.sock", directory / "client.sock"
    b = await stack.enter_async_context(await aio.UnixDatagramTransport.bind(server, timeout=TIMEOUT))
    a = await stack.enter_async_context(
        await aio.UnixDatagramTransport.connect(server, local=client, timeout=TIMEOUT)
    )
    b.raw_socket.connect(os.fspath(client))
    return a, b


async def open_pair(name: str, stack: AsyncExitStack, directory: Path) -> APair:
    """Build the connected pair called *name*; *stack* closes both ends."""
    if name.endswith("6") and not HAS_IPV6:
        pytest.skip("IPv6 loopback (::1) is not available")
    if name.endswith("socketpair"):
        kind = {"unix": Kind.STREAM, "unixgram": Kind.DATAGRAM, "unixpacket": Kind.SEQPACKET}[
            name.split("-", maxsplit=1)[0]
        ]
        a, b = aio.socketpair(kind)
        for end in (a, b):
            await stack.enter_async_context(end)
    elif name.startswith("tcp"):
        a, b = await _tcp(stack, "::1" if name == "tcp6" else "127.0.0.1")
    elif name.startswith("udp"):
        a, b = await _udp(stack, "::1" if name == "udp6" else "127.0.0.1")
    elif name == "unixgram-bound":
        a, b = await _unixgram(stack, directory)
    else:
        a, b = await _unix(stack, directory, seqpacket=name == "unixpacket")
    a.timeout = TIMEOUT
    b.timeout = TIMEOUT
    family = {"4": socket.AF_INET, "6": socket.AF_INET6}.get(name[-1], socket.AF_UNIX)
    return APair(name, a, b, family)


def _pairs(request: pytest.FixtureRequest, aloop: Loop, directory: Path) -> Iterator[APair]:
    stack = AsyncExitStack()
    try:
        yield aloop.run(open_pair(request.param, stack, directory))
    finally:
        aloop.run(stack.aclose())


@pytest.fixture(params=PAIR_NAMES)
def apair(request: pytest.FixtureRequest, aloop: Loop, tmp_sock_dir: Path) -> Iterator[APair]:
    """A connected async pair of every kind, closed after the test."""
    yield from _pairs(request, aloop, tmp_sock_dir)


@pytest.fixture(params=STREAM_PAIRS)
def stream_apair(request: pytest.FixtureRequest, aloop: Loop, tmp_sock_dir: Path) -> Iterator[APair]:
    """A connected async pair of each byte-stream kind."""
    yield from _pairs(request, aloop, tmp_sock_dir)


@pytest.fixture(params=DATAGRAM_PAIRS + SEQPACKET_PAIRS)
def message_apair(request: pytest.FixtureRequest, aloop: Loop, tmp_sock_dir: Path) -> Iterator[APair]:
    """A connected async pair of each kind that keeps message boundaries."""
    yield from _pairs(request, aloop, tmp_sock_dir)


@pytest.fixture(params=DATAGRAM_PAIRS)
def datagram_apair(request: pytest.FixtureRequest, aloop: Loop, tmp_sock_dir: Path) -> Iterator[APair]:
    """A connected async pair of each datagram kind."""
    yield from _pairs(request, aloop, tmp_sock_dir)


@pytest.fixture(params=STREAM_PAIRS + SEQPACKET_PAIRS)
def connected_apair(request: pytest.FixtureRequest, aloop: Loop, tmp_sock_dir: Path) -> Iterator[APair]:
    """A connected async pair of each connection-oriented kind."""
    yield from _pairs(request, aloop, tmp_sock_dir)


Concrete = (
    aio.TCPTransport
    | aio.UDPTransport
    | aio.UnixStreamTransport
    | aio.UnixDatagramTransport
    | aio.UnixSeqpacketTransport
)


def concrete(transport: aio.Transport) -> Concrete:
    """The transport as its class, for what the protocols leave out (the raw socket, options)."""
    assert isinstance(transport, Concrete)
    return transport


def payload(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def shrink_buffers(sender: aio.Transport, receiver: aio.Transport) -> None:
    """Small socket buffers, so that a few MiB can never sit in the kernel at once."""
    assert isinstance(sender, aio.TCPTransport | aio.UnixStreamTransport)
    assert isinstance(receiver, aio.TCPTransport | aio.UnixStreamTransport)
    sender.set_option(SO_SNDBUF, 32768)
    receiver.set_option(SO_RCVBUF, 32768)


def max_message(transport: aio.Transport) -> int:
    assert isinstance(transport, aio.DatagramTransport | aio.UnixSeqpacketTransport)
    return transport.max_message_size


# -- identity ---------------------------------------------------------------------------------------

EXPECTED_CLASS: dict[str, type[aio.Transport]] = {
    "tcp": aio.TCPTransport,
    "unix": aio.UnixStreamTransport,
    "udp": aio.UDPTransport,
    "unixgram": aio.UnixDatagramTransport,
    "unixpacket": aio.UnixSeqpacketTransport,
}


def _network(name: str) -> str:
    return name.split("-", maxsplit=1)[0].rstrip("46")


def test_kind_class_and_protocols(apair: APair) -> None:
    for end in (apair.a, apair.b):
        assert type(end) is EXPECTED_CLASS[_network(apair.name)]
        assert isinstance(end, aio.Transport)
        assert not isinstance(cast(object, end), SyncTransport)  # no __enter__: never taken for one
        assert not end.closed
        assert stat.S_ISSOCK(os.fstat(end.fileno()).st_mode)
        assert concrete(end).raw_socket.gettimeout() == 0  # non-blocking for good
        assert isinstance(end, aio.StreamTransport) == (apair.kind is Kind.STREAM)
        assert isinstance(end, aio.DatagramTransport) == (apair.kind is Kind.DATAGRAM)
        assert isinstance(end, aio.FdPassing) == (apair.family == socket.AF_UNIX)
        assert isinstance(end, aio.SendfileCapable) == (apair.kind is Kind.STREAM)
    assert "aio." in repr(apair.a)


# -- data transfer ----------------------------------------------------------------------------------


def test_multi_mib_stream_both_ends_in_one_loop(aloop: Loop, stream_apair: APair) -> None:
    a, b = stream_apair.streams()
    data = os.urandom(12 * MiB + 7)

    async def body() -> None:
        sender = asyncio.create_task(a.send_all(data))
        received = await b.recv_exactly(len(data))
        await sender
        assert received == data
        assert a.last_bytes_sent == len(data)

    aloop.run(body())


# -- flags --------------------------------------------------------------------------------------------


def test_waitall_waits_for_the_whole_buffer(aloop: Loop, stream_apair: APair) -> None:
    a, b = stream_apair.streams()
    shrink_buffers(a, b)
    data = os.urandom(4 * MiB)

    async def body() -> None:
        sender = asyncio.create_task(a.send_all(data))
        received = await b.recv(len(data), RecvFlags.WAITALL)
        await sender
        assert received == data
        buffer = bytearray(MiB + 100)
        sender = asyncio.create_task(a.send_all(data[:MiB]))
        assert await b.recv_into(buffer, MiB, RecvFlags.WAITALL) == MiB
        await sender
        assert buffer[:MiB] == data[:MiB]
        assert buffer[MiB:] == bytes(100)

    aloop.run(body())


def test_dontwait_never_waits(aloop: Loop, apair: APair) -> None:
    async def body() -> None:
        for timeout in (TIMEOUT, None):
            apair.b.timeout = timeout
            started = time.monotonic()
            with pytest.raises(WouldBlock) as info:
                await apair.b.recv(10, RecvFlags.DONTWAIT)
            assert info.value.errno in {errno.EAGAIN, errno.EWOULDBLOCK}
            assert info.value.op == "recv"
            with pytest.raises(BlockingIOError):
                await apair.b.recv_into(bytearray(10), 0, RecvFlags.DONTWAIT)
            if isinstance(apair.b, aio.DatagramTransport):
                with pytest.raises(WouldBlock):
                    await apair.b.recv_from(10, RecvFlags.DONTWAIT)
            assert time.monotonic() - started < TIMEOUT / 2
        await apair.a.send(b"ready")
        await spin(lambda: unread(apair.b) > 0, "the data arrived")
        assert await apair.b.recv(5, RecvFlags.DONTWAIT) == b"ready"

    aloop.run(body())


def test_timeout_zero_means_non_blocking(aloop: Loop, apair: APair) -> None:
    async def body() -> None:
        apair.b.timeout = 0
        with pytest.raises(WouldBlock):
            await apair.b.recv(10)
        if apair.is_stream:
            with pytest.raises(WouldBlock) as info:
                await apair.streams()[1].recv_exactly(10)
            assert info.value.partial == b""

    aloop.run(body())


# The same table as the sync face's: one scheme row, one set of refusals.
REFUSED_SEND = builtin_refusals.REFUSED_SEND
REFUSED_RECV = builtin_refusals.REFUSED_RECV


def test_refused_flags_before_any_system_call(aloop: Loop, apair: APair) -> None:
    network = _network(apair.name)

    async def body() -> None:
        for flag in REFUSED_SEND[network]:
            with pytest.raises(UnsupportedFlag) as info:
                await apair.a.send(b"never sent", flag)
            assert info.value.flag == flag
            assert network in str(info.value)
            if isinstance(apair.a, aio.StreamTransport):
                with pytest.raises(UnsupportedFlag):
                    await apair.a.send_all(b"never sent", flag)
        for rflag in REFUSED_RECV[network]:
            with pytest.raises(UnsupportedFlag, match=f"RecvFlags.{rflag.name}"):
                await apair.b.recv(100, rflag)
            with pytest.raises(UnsupportedFlag):
                await apair.b.recv_into(bytearray(100), 0, rflag)
        with pytest.raises(TypeError, match="SendFlags"):
            await apair.a.send(b"x", RecvFlags.PEEK)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="RecvFlags"):
            await apair.b.recv(1, SendFlags.DONTWAIT)  # type: ignore[arg-type]
        with pytest.raises(WouldBlock):  # nothing reached the peer
            await apair.b.recv(100, RecvFlags.DONTWAIT)
        apair.a.close()  # a system call would now fail with EBADF: the flag check comes first
        with pytest.raises(UnsupportedFlag):
            await apair.a.send(b"x", REFUSED_SEND[network][0])

    aloop.run(body())


def test_tcp_out_of_band_byte(aloop: Loop, tmp_sock_dir: Path) -> None:
    async def body() -> None:
        async with AsyncExitStack() as stack:
            pair = await open_pair("tcp4", stack, tmp_sock_dir)
            a, b = pair.streams()
            await a.send_all(b"normal")
            await a.send(b"!", SendFlags.OOB)
            await spin(lambda: unread(b) >= 6, "the data arrived")
            assert await b.recv(1, RecvFlags.OOB) == b"!"
            assert await b.recv_exactly(6) == b"normal"

    aloop.run(body())


# -- truncation ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("datagram_apair", ["udp4", "udp6", "unixgram-bound"], indirect=True)
def test_send_to_the_peer_address(aloop: Loop, datagram_apair: APair) -> None:
    a, b = datagram_apair.datagrams()

    async def body() -> None:
        assert await a.send_to(b"addressed", b.local_address) == 9
        assert (await b.recv_from(100)).data == b"addressed"

    aloop.run(body())


def test_concurrent_receivers_each_get_a_message(aloop: Loop, datagram_apair: APair) -> None:
    a, b = datagram_apair.datagrams()

    async def body() -> None:
        readers = [asyncio.create_task(b.recv_from(100)) for _ in range(3)]
        await turns(3)
        for index in range(3):
            await a.send(b"message %d" % index)
        got = sorted([(await reader).data for reader in readers])
        assert got == [b"message 0", b"message 1", b"message 2"]

    aloop.run(body())


# -- half-close, timeouts, end of stream, closing -------------------------------------------------------


def test_recv_times_out(aloop: Loop, apair: APair) -> None:
    async def body() -> None:
        apair.b.timeout = 0.05
        with pytest.raises(TransportTimeout) as info:
            await apair.b.recv(10)
        assert isinstance(info.value, TimeoutError)
        assert info.value.op == "recv"
        assert "0.05" in str(info.value)
        with pytest.raises(TimeoutError):
            await apair.b.recv_into(bytearray(10))
        # Nothing was lost: a message sent now is received whole.
        await apair.a.send(b"late")
        apair.b.timeout = TIMEOUT
        assert await apair.b.recv(10) == b"late"

    aloop.run(body())


def test_send_all_timeout_reports_bytes_sent(aloop: Loop, stream_apair: APair) -> None:
    a, b = stream_apair.streams()
    shrink_buffers(a, b)
    data = os.urandom(8 * MiB)

    async def body() -> None:
        a.timeout = 0.1
        with pytest.raises(TransportTimeout) as info:
            await a.send_all(data)
        sent = info.value.bytes_sent
        assert sent is not None
        assert 0 < sent < len(data)
        assert a.last_bytes_sent == sent
        assert f"after {sent} bytes" in str(info.value)
        a.close()
        assert await _drain(b) == data[:sent]

    aloop.run(body())


async def _drain(transport: aio.StreamTransport) -> bytes:
    """Everything until end of stream."""
    chunks = []
    while chunk := await transport.recv(MiB):
        chunks.append(chunk)
    return b"".join(chunks)


def test_close_twice_and_operations_after_close(aloop: Loop, apair: APair) -> None:
    a = apair.a

    async def body() -> None:
        async with a:
            a.close()
        a.close()
        assert a.closed
        assert a.fileno() == -1
        assert "closed" in repr(a)
        calls: dict[str, Callable[[], Coroutine[Any, Any, object]]] = {
            "send": lambda: a.send(b"x"),
            "recv": lambda: a.recv(1),
            "recv_into": lambda: a.recv_into(bytearray(1)),
        }
        if isinstance(a, aio.StreamTransport):
            stream = a
            calls["send_all"] = lambda: stream.send_all(b"x")
            calls["recv_exactly"] = lambda: stream.recv_exactly(1)
        if isinstance(a, aio.DatagramTransport):
            datagram = a
            calls["recv_from"] = lambda: datagram.recv_from(1)
        for name, call in calls.items():
            with pytest.raises(TransportClosed) as info:
                await call()
            assert info.value.errno == errno.EBADF, name
        with pytest.raises(TransportClosed):
            _ = a.local_address

    aloop.run(body())


def test_a_transport_outlives_its_loop(apair: APair, aloop: Loop) -> None:
    """A transport made on one loop keeps working on the next one (asyncio.run twice, say)."""

    async def wait_and_give_up() -> None:
        apair.b.timeout = 0.01
        with pytest.raises(TransportTimeout):
            await apair.b.recv(10)

    aloop.run(wait_and_give_up())
    with asyncio.Runner() as other:

        async def body() -> bytes:
            apair.b.timeout = TIMEOUT
            await apair.a.send(b"on another loop")
            return await apair.b.recv(100)

        assert other.run(_bounded(body(), TEST_LIMIT)) == b"on another loop"


# -- cancellation -------------------------------------------------------------------------------------


def test_cancelled_receive_loses_no_data(aloop: Loop, apair: APair) -> None:
    """Cancel a waiting receive at every point around the data's arrival: the data is never lost."""

    async def body() -> None:
        outcomes = set()
        for delay in range(8):
            apair.b.timeout = None
            message = b"message %d" % delay
            reader = asyncio.create_task(apair.b.recv(100))
            await turns(1)
            await apair.a.send(message)
            await turns(delay)
            reader.cancel()
            try:
                got = await reader
            except asyncio.CancelledError:
                outcomes.add("cancelled")
                apair.b.timeout = TIMEOUT
                got = await apair.b.recv(100)
            else:
                outcomes.add("received")
            assert got == message
        assert "cancelled" in outcomes

    aloop.run(body())


def test_cancelled_recv_exactly_keeps_what_it_read(aloop: Loop, stream_apair: APair) -> None:
    a, b = stream_apair.streams()

    async def body() -> None:
        reader = asyncio.create_task(b.recv_exactly(10))
        await turns(1)
        await a.send_all(b"abc")
        await spin(lambda: unread(b) == 0, "the reader took the first bytes")
        await turns(2)
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
        assert unread(b) == 0  # the three bytes are in the transport, not in the socket
        # Every kind of receive hands those bytes out first, in order.
        assert await b.recv(2, RecvFlags.PEEK) == b"ab"
        assert await b.recv(1) == b"a"
        buffer = bytearray(5)
        assert await b.recv_into(buffer, 1) == 1
        assert buffer[:1] == b"b"
        await a.send_all(b"defghijk")
        assert await b.recv_exactly(8) == b"cdefghij"
        assert await b.recv(10) == b"k"

    aloop.run(body())


def test_cancelled_waitall_keeps_what_it_read(aloop: Loop, stream_apair: APair) -> None:
    a, b = stream_apair.streams()

    async def body() -> None:
        reader = asyncio.create_task(b.recv(10, RecvFlags.WAITALL))
        await turns(1)
        await a.send_all(b"1234")
        await spin(lambda: unread(b) == 0, "the reader took the first bytes")
        await turns(2)
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
        await a.send_all(b"567890")
        assert await b.recv(10, RecvFlags.WAITALL) == b"1234567890"

    aloop.run(body())


def test_cancelled_send_all_reports_bytes_sent(aloop: Loop, stream_apair: APair) -> None:
    """Cancel a send_all blocked on a full buffer: last_bytes_sent is exactly what the peer reads."""
    a, b = stream_apair.streams()
    shrink_buffers(a, b)
    data = os.urandom(8 * MiB)

    async def body() -> None:
        a.timeout = None
        sender = asyncio.create_task(a.send_all(data))
        await turns(10)
        assert not sender.done(), "8 MiB cannot fit in the socket buffers"
        sender.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sender
        sent = a.last_bytes_sent
        assert sent is not None
        assert 0 < sent < len(data)
        a.close()
        assert await _drain(b) == data[:sent]

    aloop.run(body())


def test_outer_timeout_is_a_cancellation(aloop: Loop, apair: APair) -> None:
    """asyncio.timeout around a call raises the built-in TimeoutError; no data is lost."""

    async def body() -> None:
        apair.b.timeout = None
        with pytest.raises(TimeoutError) as info:
            async with asyncio.timeout(0.02):
                await apair.b.recv(100)
        assert not isinstance(info.value, TransportError)
        await apair.a.send(b"after the timeout")
        assert await apair.b.recv(100) == b"after the timeout"

    aloop.run(body())
