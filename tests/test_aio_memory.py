"""``memory://`` and ``memorygram://`` on the async face, on asyncio and uvloop.

The async memory transports are the sync ones' operations driven on the
event loop (``transports.testing._memory``): these tests check what the
async face adds -- the aio protocols and nothing more, the URL entry points,
the kit on both loops, awaiting on full buffers, timeouts, ``close()``
waking a waiting task (from the loop or from another thread), cancellation
that loses no byte -- and that a sync end and an async end talk through one
name. Every coroutine runs under the fixture's time limit and every
transport has a timeout; nothing sleeps to wait for a peer.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

import transports
from conftest import TIMEOUT
from test_aio import Loop, aloop, spin, turns  # noqa: F401  # aloop: the fixture `loop` stands on
from test_mirroring import Face, compare_functions, members
from transports import (
    AddressError,
    AddressInUse,
    BrokenPipe,
    MessageTruncated,
    NamedAddress,
    RecvFlags,
    SendFlags,
    TransportClosed,
    TransportTimeout,
    UnexpectedEOF,
    WouldBlock,
    aio,
)
from transports import protocols as sync_protocols
from transports.aio import protocols as aio_protocols
from transports.testing import memory, memorygram
from transports.testing.aio import (
    run_async_listener_checks,
    run_async_message_checks,
    run_async_stream_checks,
)
from transports.testing.aio_memory import MemoryDatagramTransport, MemoryListener, MemoryStreamTransport


@pytest.fixture
def loop(aloop: Loop) -> Loop:  # noqa: F811  # the fixture of tests/test_aio.py, by another name
    """An event loop of each kind (asyncio, uvloop), from tests/test_aio.py."""
    return aloop


def satisfies(obj: object, protocol: type) -> bool:
    """``isinstance`` for the checks a type checker already knows the answer to."""
    return isinstance(obj, protocol)


def unique(prefix: str = "am") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def stream_pair(capacity: int = 64 * 1024) -> tuple[MemoryStreamTransport, MemoryStreamTransport]:
    a, b = MemoryStreamTransport.pair(unique(), capacity=capacity)
    a.timeout = b.timeout = TIMEOUT
    return a, b


# -- the shape: exactly the aio protocols of the kind ------------------------------------------


def test_each_class_satisfies_exactly_its_kinds_aio_protocols(loop: Loop) -> None:
    async def main() -> None:
        name = unique()
        async with await aio.listen(f"memory://{name}", timeout=TIMEOUT) as listener:
            async with await aio.connect(f"memory://{name}", timeout=TIMEOUT) as client:
                assert type(listener) is MemoryListener
                assert type(client) is MemoryStreamTransport
                assert isinstance(listener, aio_protocols.Listener)
                assert not isinstance(listener, sync_protocols.Listener)
                assert isinstance(client, aio_protocols.StreamTransport)
                assert not isinstance(client, aio_protocols.DatagramTransport)
                assert not isinstance(client, aio_protocols.SendfileCapable)
                assert not isinstance(client, aio_protocols.FdPassing)
                assert not satisfies(client, sync_protocols.Transport)
        async with await aio.bind(f"memorygram://{unique()}", timeout=TIMEOUT) as endpoint:
            assert type(endpoint) is MemoryDatagramTransport
            assert isinstance(endpoint, aio_protocols.DatagramTransport)
            assert not isinstance(endpoint, aio_protocols.StreamTransport)
            assert not satisfies(endpoint, sync_protocols.Transport)

    loop.run(main())
    # ... and the sync classes are no async transports.
    a, b = memory.MemoryStreamTransport.pair()
    with a, b:
        assert isinstance(a, sync_protocols.StreamTransport)
        assert not satisfies(a, aio_protocols.Transport)


def test_the_url_entry_points_refuse_the_wrong_verb_naming_the_aio_one(loop: Loop) -> None:
    async def main() -> None:
        with pytest.raises(AddressError, match=r"use aio\.bind\(\) instead"):
            await aio.listen(f"memorygram://{unique()}")
        with pytest.raises(AddressError, match=r"use aio\.listen\(\) instead"):
            await aio.bind(f"memory://{unique()}")
        with pytest.raises(transports.ConnectionRefused, match="is the server started"):
            await aio.connect(f"memory://{unique()}")

    loop.run(main())


# -- the conformance kit, on both loops ------------------------------------------------------------


def test_the_kit_passes_on_the_async_memory_transports(loop: Loop) -> None:
    async def streams() -> tuple[aio.Transport, aio.Transport]:
        return stream_pair()

    async def datagrams() -> tuple[aio.Transport, aio.Transport]:
        a, b = MemoryDatagramTransport.pair()
        a.timeout = b.timeout = TIMEOUT
        return a, b

    async def make_listener() -> aio.Listener[aio.Transport]:
        return await aio.listen(f"memory://{unique()}", timeout=TIMEOUT)

    async def connect_to(listener: aio.Listener[aio.Transport]) -> aio.Transport:
        assert isinstance(listener.address, NamedAddress)
        return await aio.connect(listener.address.url(), timeout=TIMEOUT)

    async def main() -> list[dict[str, str]]:
        return [
            await run_async_stream_checks(streams),
            await run_async_message_checks(datagrams),
            await run_async_listener_checks(make_listener, connect_to),
        ]

    for results in loop.run(main()):
        failed = {
            name: r for name, r in results.items() if r != "passed" and not r.startswith("not applicable")
        }
        assert not failed
        assert "passed" in results.values()


# -- waiting: full buffers, timeouts, close, cancellation ------------------------------------------


def test_a_sender_awaits_room_when_the_peer_does_not_read(loop: Loop) -> None:
    async def main() -> None:
        a, b = stream_pair(capacity=16)
        async with a, b:
            assert await a.send(b"x" * 100) == 16  # what fits
            with pytest.raises(WouldBlock):
                await a.send(b"y", SendFlags.DONTWAIT)
            task = asyncio.create_task(a.send_all(b"z" * 40))
            await turns(5)
            assert not task.done(), "send_all finished although the peer read nothing"
            got = await b.recv_exactly(56)
            await asyncio.wait_for(task, TIMEOUT)
            assert got == b"x" * 16 + b"z" * 40
            assert a.last_bytes_sent == 40

    loop.run(main())


def test_timeouts_raise_transport_timeout_with_the_counts(loop: Loop) -> None:
    async def main() -> None:
        a, b = stream_pair(capacity=8)
        async with a, b:
            a.timeout = b.timeout = 0.05
            with pytest.raises(TransportTimeout) as info:
                await b.recv(10)
            assert info.value.op == "recv"
            with pytest.raises(TransportTimeout) as sent:
                await a.send_all(b"0123456789abc")
            assert sent.value.bytes_sent == 8
            assert a.last_bytes_sent == 8
            with pytest.raises(TransportTimeout) as partial:
                await b.recv_exactly(20)
            assert partial.value.partial == b"01234567"
            b.timeout = 0
            with pytest.raises(WouldBlock):
                await b.recv(1)

    loop.run(main())


def test_close_wakes_a_waiting_task_from_the_loop_and_from_a_thread(loop: Loop) -> None:
    async def main() -> None:
        for from_thread in (False, True):
            a, b = stream_pair()
            async with a, b:
                task = asyncio.create_task(a.recv(10))
                await turns(3)
                assert not task.done()
                if from_thread:
                    closer = threading.Thread(target=a.close, name="closer")
                    closer.start()
                    closer.join(TIMEOUT)
                else:
                    a.close()
                with pytest.raises(TransportClosed):
                    await asyncio.wait_for(task, TIMEOUT)
                assert await b.recv(10) == b""  # the peer sees end of stream

    loop.run(main())


def test_half_close_and_end_of_stream(loop: Loop) -> None:
    async def main() -> None:
        a, b = stream_pair()
        async with a, b:
            await a.send_all(b"request")
            a.shutdown("write")
            assert await b.recv_exactly(7) == b"request"
            assert await b.recv(10) == b""
            with pytest.raises(BrokenPipe):
                await a.send(b"more")
            await b.send_all(b"reply")  # the other direction still works
            assert await a.recv_exactly(5) == b"reply"
            b.close()
            assert await a.recv(10) == b""
            with pytest.raises(UnexpectedEOF):
                await a.recv_exactly(1)

    loop.run(main())


def test_a_cancelled_receive_loses_no_byte(loop: Loop) -> None:
    async def main() -> None:
        a, b = stream_pair()
        async with a, b:
            receives: list[Callable[[], Coroutine[Any, Any, bytes]]] = [
                lambda: b.recv_exactly(10),
                lambda: b.recv(10, RecvFlags.WAITALL),
            ]
            for receive in receives:
                task = asyncio.create_task(receive())
                await a.send_all(b"abcd")
                await turns(5)  # the receive takes the four bytes and waits for more
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                await a.send_all(b"efghij")
                assert await b.recv_exactly(10) == b"abcdefghij"

    loop.run(main())


def test_memorygram_never_truncates_silently(loop: Loop) -> None:
    async def main() -> None:
        a, b = MemoryDatagramTransport.pair()
        async with a, b:
            b.timeout = TIMEOUT
            for _ in range(3):
                await a.send(b"0123456789")
            with pytest.raises(MessageTruncated) as info:
                await b.recv(4)
            assert (info.value.data, info.value.size) == (b"0123", 10)
            message = await b.recv_from(4)
            assert message.truncated
            assert message.size == 10
            buffer = bytearray(4)
            with pytest.raises(MessageTruncated):
                await b.recv_into(buffer)
            assert buffer == b"0123"

    loop.run(main())


# -- one name table for both faces ---------------------------------------------------------------------


def test_a_sync_client_in_a_thread_talks_to_an_async_listener(loop: Loop) -> None:
    async def main() -> None:
        name = unique()
        async with await aio.listen(f"memory://{name}", timeout=TIMEOUT) as listener:

            def client() -> bytes:
                with transports.connect(f"memory://{name}", timeout=TIMEOUT) as conn:
                    assert isinstance(conn, memory.MemoryStreamTransport)
                    conn.send_all(b"from a thread")
                    conn.shutdown("write")
                    return conn.recv_exactly(5)

            reply = asyncio.get_running_loop().run_in_executor(None, client)
            async with await listener.accept() as server:
                assert isinstance(server, MemoryStreamTransport)
                assert await server.recv_exactly(13) == b"from a thread"
                assert await server.recv(1) == b""
                await server.send_all(b"reply")
            assert await asyncio.wait_for(reply, TIMEOUT) == b"reply"
            with pytest.raises(AddressInUse):
                transports.listen(f"memory://{name}")

    loop.run(main())


def test_sync_and_async_datagram_endpoints_share_names(loop: Loop) -> None:
    async def main() -> None:
        name = unique()
        with memorygram.MemoryDatagramTransport.bind(name) as sync_end:
            sync_end.timeout = TIMEOUT
            async with await aio.connect(f"memorygram://{name}", timeout=TIMEOUT) as async_end:
                await async_end.send(b"to sync")
                assert sync_end.recv(100) == b"to sync"
                waiting = asyncio.get_running_loop().run_in_executor(None, sync_end.recv_from, 100)
                await async_end.send(b"again")
                message = await asyncio.wait_for(waiting, TIMEOUT)
                assert message.data == b"again"
                sync_end.send_to(b"back", message.address)
                assert await async_end.recv(100) == b"back"

    loop.run(main())


def test_serve_runs_a_handler_per_connection_until_closed(loop: Loop) -> None:
    async def main() -> None:
        name = unique()
        listener = await aio.listen(f"memory://{name}", timeout=TIMEOUT)

        async def echo(conn: aio.Transport) -> None:
            assert isinstance(conn, MemoryStreamTransport)
            conn.timeout = TIMEOUT
            data = await conn.recv_exactly(4)
            await conn.send_all(data.upper())
            if data == b"stop":
                listener.close()

        server = asyncio.create_task(listener.serve(echo))
        for word in (b"ping", b"stop"):
            async with await aio.connect(f"memory://{name}", timeout=TIMEOUT) as client:
                assert isinstance(client, aio.StreamTransport)
                await client.send_all(word)
                assert await client.recv_exactly(4) == word.upper()
        await asyncio.wait_for(server, TIMEOUT)
        assert listener.closed

    loop.run(main())


def test_serve_stops_gracefully_waking_idle_handlers_and_cutting_the_rest(loop: Loop) -> None:
    async def main() -> None:
        name = unique()
        listener = await aio.listen(f"memory://{name}", timeout=TIMEOUT)
        started: list[str] = []
        ended: list[str] = []

        async def handler(conn: aio.Transport) -> None:
            assert isinstance(conn, MemoryStreamTransport)
            conn.timeout = TIMEOUT
            word = (await conn.recv_exactly(4)).decode()
            started.append(word)
            if word == "idle":
                assert await conn.recv(10) == b""  # woken by the stop: end of stream
                await conn.send_all(b"bye!")  # ... and it can still answer
                ended.append(word)
            else:
                await asyncio.Event().wait()  # busy past the grace: cut

        server = asyncio.create_task(listener.serve(handler, grace=0.5, max_connections=2))
        async with (
            await aio.connect(f"memory://{name}", timeout=TIMEOUT) as idle,
            await aio.connect(f"memory://{name}", timeout=TIMEOUT) as busy,
            await aio.connect(f"memory://{name}", timeout=TIMEOUT) as waiting,
        ):
            assert isinstance(idle, aio.StreamTransport)
            assert isinstance(busy, aio.StreamTransport)
            assert isinstance(waiting, aio.StreamTransport)
            await idle.send_all(b"idle")
            await busy.send_all(b"busy")
            await waiting.send_all(b"wait")
            await spin(lambda: len(started) == 2, "two handlers started")
            await turns(5)
            assert sorted(started) == ["busy", "idle"], "max_connections=2 let a third handler run"
            listener.close()
            served = await asyncio.wait_for(server, TIMEOUT)
            assert await idle.recv_exactly(4) == b"bye!"
            assert await busy.recv(10) == b""  # cut: its connection closed
            assert await waiting.recv(10) == b""  # never served: closed with the listener
        assert ended == ["idle"]
        assert (served.accepted, served.failed) == (2, 0)
        assert served.cut == (busy.local_address,)

    loop.run(main())


# -- the two faces mirror each other -----------------------------------------------------------------

#: Each sync memory class and its async twin.
TWINS: dict[Any, Any] = {
    memory.MemoryStreamTransport: MemoryStreamTransport,
    memory.MemoryListener: MemoryListener,
    memorygram.MemoryDatagramTransport: MemoryDatagramTransport,
}
#: Members of one face only: the context managers, iteration, and the async face's own.
ONE_FACE = {"__enter__", "__exit__", "__aenter__", "__aexit__", "__iter__", "__aiter__", "__anext__"}
AIO_ONLY = {"serve", "last_bytes_sent", "aclose"}
#: Members that wait: coroutines on the async face.
WAITS = {
    "send",
    "send_all",
    "send_to",
    "recv",
    "recv_into",
    "recv_from",
    "recv_exactly",
    "accept",
    "bind",
    "connect",
}


@pytest.mark.parametrize("sync_cls", list(TWINS), ids=lambda cls: cls.__name__)
def test_the_async_memory_classes_mirror_the_sync_ones(sync_cls: type) -> None:
    aio_cls = TWINS[sync_cls]
    ours, theirs = members(sync_cls), members(aio_cls)
    assert set(ours) - ONE_FACE == set(theirs) - ONE_FACE - AIO_ONLY
    sync_face, aio_face = Face("sync", {}, TWINS), Face("aio", {}, {})
    drifts: list[str] = []
    for name in sorted(set(ours) - ONE_FACE):
        mine, twin = ours[name], theirs[name]
        assert mine.kind == twin.kind, name
        if mine.kind == "property":
            drifts += compare_functions(name, sync_face, mine.raw.fget, aio_face, twin.raw.fget)
            continue
        if mine.kind == "attribute":
            continue
        drifts += compare_functions(name, sync_face, mine.function, aio_face, twin.function)
        assert inspect.iscoroutinefunction(twin.function) is (name in WAITS), name
        assert name.startswith("__") or twin.function.__doc__, f"{aio_cls.__name__}.{name} has no docstring"
    assert not drifts, "\n".join(drifts)
