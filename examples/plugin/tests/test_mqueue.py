"""transports-mqueue passes the typed-transports conformance kit, reached through its URL scheme."""

from __future__ import annotations

import asyncio
import os
import queue
import sys
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from transports_mqueue import SCHEME, AsyncMQueueTransport, MQueueTransport

import transports
from transports import AsyncSchemeFactory, aio
from transports.testing import PROMPT, TIMEOUT, MessageCheck


def _name() -> str:
    return f"/tt-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def mqueue_pair() -> tuple[transports.Transport, transports.Transport]:
    """A fresh server end and client end, made through the entry point like any user would."""
    url = f"mqueue://{_name()}"
    server = transports.bind(url, timeout=5)
    try:
        client = transports.connect(url, timeout=5)
    except BaseException:
        server.close()
        raise
    return server, client


def test_conformance(transports_message_check: MessageCheck) -> None:
    transports_message_check(mqueue_pair)


async def async_mqueue_pair() -> tuple[aio.Transport, aio.Transport]:
    """The same on the async face: a fresh server end and client end from ``aio.bind`` and ``aio.connect``."""
    url = f"mqueue://{_name()}"
    server = await aio.bind(url, timeout=5)
    try:
        client = await aio.connect(url, timeout=5)
    except BaseException:
        server.close()
        raise
    return server, client


def test_async_conformance(transports_async_message_check: Callable[..., None]) -> None:
    transports_async_message_check(async_mqueue_pair)


def test_the_scheme_comes_from_the_plugin() -> None:
    info = {row.name: row for row in transports.schemes()}["mqueue"]
    assert info.kind is transports.Kind.DATAGRAM
    assert info.origin.startswith("plugin transports-mqueue")
    assert info.error is None


def test_the_async_face_comes_from_the_plugin_too() -> None:
    info = {row.name: row for row in transports.schemes()}["mqueue"]
    assert (info.sync, info.aio) == (True, True)
    assert isinstance(SCHEME.async_factory, AsyncSchemeFactory)


T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run *coro* on a fresh event loop, failing it after TIMEOUT seconds."""

    async def bounded() -> T:
        async with asyncio.timeout(TIMEOUT):
            return await coro

    return asyncio.run(bounded())


def test_async_ends_carry_messages_both_ways() -> None:
    url = f"mqueue://{_name()}"

    async def body() -> None:
        async with await aio.bind(url, timeout=TIMEOUT) as server, await aio.connect(url) as client:
            assert isinstance(server, aio.Transport)
            assert isinstance(client, AsyncMQueueTransport)
            assert client.kind is transports.Kind.DATAGRAM
            assert client.local_address == server.remote_address
            # The receive waits on the loop until the message comes.
            waiting = asyncio.ensure_future(server.recv(100))
            await asyncio.sleep(0)
            assert not waiting.done()
            assert await client.send(b"job 1") == 5
            assert await waiting == b"job 1"
            await server.send(b"done")
            buffer = bytearray(10)
            assert await client.recv_into(buffer) == 4
            assert buffer[:4] == b"done"
            with pytest.raises(transports.AddressError, match=r"aio\.bind"):
                await aio.listen(url)

    run(body())


def test_async_timeouts_dontwait_and_a_full_queue() -> None:
    url = f"mqueue://{_name()}"

    async def body() -> None:
        async with await aio.bind(url, timeout=0.05) as server, await aio.connect(url) as client:
            with pytest.raises(transports.TransportTimeout, match="no message came within"):
                await server.recv(100)
            with pytest.raises(transports.WouldBlock):
                await server.recv(100, transports.RecvFlags.DONTWAIT)
            with pytest.raises(transports.UnsupportedFlag):
                await server.recv(100, transports.RecvFlags.PEEK)
            sent = 0
            while True:  # fill the queue (10 messages by default)
                try:
                    await client.send(b"m", transports.SendFlags.DONTWAIT)
                except transports.WouldBlock:
                    break
                sent += 1
            client.timeout = TIMEOUT
            # A send on the full queue waits for room: one receive makes it.
            blocked = asyncio.ensure_future(client.send(b"last"))
            await asyncio.sleep(0)
            assert not blocked.done()
            assert await server.recv(100) == b"m"
            assert await blocked == 4
            assert [await server.recv(100) for _ in range(sent)][-1] == b"last"

    run(body())


def test_async_close_wakes_a_waiting_receive() -> None:
    url = f"mqueue://{_name()}"

    async def body() -> None:
        server = await aio.bind(url)
        assert isinstance(server, AsyncMQueueTransport)
        async with await aio.connect(url) as client:
            waiting = asyncio.ensure_future(server.recv(100))
            while not server._waiting:  # until it waits on the loop
                await asyncio.sleep(0)
            server.close()
            with pytest.raises(transports.TransportClosed):
                await waiting
            assert server.closed
            assert not client.closed, "closing one end leaves the other open"
            with pytest.raises(transports.TransportClosed):
                await server.send(b"late")

    run(body())


@pytest.fixture
def ends() -> Iterator[tuple[transports.Transport, transports.Transport]]:
    server, client = mqueue_pair()
    with server, client:
        yield server, client


def test_both_directions_and_addresses(ends: tuple[transports.Transport, transports.Transport]) -> None:
    server, client = ends
    assert isinstance(server, MQueueTransport)
    client.send(b"question")
    assert server.recv(100) == b"question"
    server.send(b"answer")
    assert client.recv(100) == b"answer"
    assert server.local_address == client.remote_address
    assert server.local_address.url().startswith("mqueue:///tt-")


def test_peek_is_refused(ends: tuple[transports.Transport, transports.Transport]) -> None:
    server, _ = ends
    with pytest.raises(transports.UnsupportedFlag, match="PEEK"):
        server.recv(100, transports.RecvFlags.PEEK)


def test_fileno_is_the_queue_descriptor(ends: tuple[transports.Transport, transports.Transport]) -> None:
    server, client = ends
    if not sys.platform.startswith("linux"):
        pytest.skip("message queue descriptors are files only on Linux")
    assert server.fileno() >= 0
    assert server.fileno() != client.fileno()


def test_the_server_removes_its_queues() -> None:
    url = f"mqueue://{_name()}"
    with transports.bind(url):
        with pytest.raises(transports.TransportError, match="another server"):
            transports.bind(url)
    with pytest.raises(transports.TransportError, match="is a server bound there"):
        transports.connect(url)


def test_urls() -> None:
    with pytest.raises(transports.AddressError):
        transports.connect("mqueue:///a/b")
    with pytest.raises(transports.AddressError, match=r"use transports\.bind"):
        transports.listen("mqueue:///jobs")


def test_other_platforms_are_refused_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    with pytest.raises(
        transports.TransportError, match="need Linux, where a queue's descriptor can be polled"
    ):
        transports.bind(f"mqueue://{_name()}")


# -- close() from another thread ---------------------------------------------------------------
# The kit's check_close_wakes_blocked_receive covers receives; these cover a send and the
# descriptors. They wait (spinning, a few microseconds) until the call is in flight, so that
# close() meets it waiting rather than before it starts.


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {TIMEOUT} s"


def _in_thread(call: Callable[[], object]) -> tuple[threading.Thread, queue.Queue[object]]:
    """Run *call* in a thread; its result, or the exception it raised, goes to the queue."""
    outcome: queue.Queue[object] = queue.Queue()

    def run() -> None:
        try:
            outcome.put(call())
        except BaseException as exc:
            outcome.put(exc)

    thread = threading.Thread(target=run, name="mqueue-test-blocked-call")
    thread.start()
    return thread, outcome


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_close_wakes_a_send_blocked_on_a_full_queue() -> None:
    server, client = mqueue_pair()
    assert isinstance(client, MQueueTransport)
    with server, client:
        sent = [b"message %d" % i for i in range(10)]  # fill the queue: bind() makes room for 10
        for message in sent:
            client.send(message)
        with pytest.raises(transports.WouldBlock):
            client.send(b"one too many", transports.SendFlags.DONTWAIT)
        client.timeout = None
        thread, outcome = _in_thread(lambda: client.send(b"sent after close"))
        _until(lambda: client._calls == 1, "the send in flight")
        client.close()
        thread.join(PROMPT)
        woke = not thread.is_alive()
        if not woke:  # make room so the thread ends, then fail
            server.recv(100)
            thread.join(TIMEOUT)
        result = outcome.get(timeout=TIMEOUT)
        assert woke, f"a send blocked on a full queue was not woken by close(); it gave {result!r}"
        assert isinstance(result, transports.TransportClosed), result
        received = [server.recv(100, transports.RecvFlags.DONTWAIT) for _ in sent]
        assert received == sent
        with pytest.raises(transports.WouldBlock):  # the late message never went
            server.recv(100, transports.RecvFlags.DONTWAIT)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc/self/fd")
def test_the_last_call_out_closes_the_descriptors() -> None:
    before = _open_fds()
    server, client = mqueue_pair()
    assert isinstance(server, MQueueTransport)
    server.timeout = None
    thread, outcome = _in_thread(lambda: server.recv(100))
    _until(lambda: server._calls == 1, "the receive in flight")
    server.close()
    thread.join(PROMPT)
    if thread.is_alive():  # send so the thread ends; the assertion below then fails
        client.send(b"release")
        thread.join(TIMEOUT)
    client.close()
    result = outcome.get(timeout=TIMEOUT)
    assert isinstance(result, transports.TransportClosed), f"the receive gave {result!r}, not TransportClosed"
    assert _open_fds() == before, "descriptors (queues or wake pipe) left open after close()"


# -- fork: each process closes its own copy ------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_closing_the_server_end_leaves_the_queues() -> None:
    url = f"mqueue://{_name()}"
    with transports.bind(url, timeout=5) as server:
        pid = os.fork()
        if pid == 0:  # the child: close its copy, as a pre-fork worker that is done does
            code = 1
            try:
                server.close()
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert not server.closed
        with transports.connect(url, timeout=5) as client:  # the child did not remove the queues
            client.send(b"after the child closed")
            assert server.recv(100) == b"after the child closed"
    with pytest.raises(transports.TransportError, match="is a server bound there"):
        transports.connect(url)  # the creator's close did
