"""The graceful stop of the aio listeners' ``serve()``, and ``aclose()`` (issue 15 item 5).

The same rules as the threaded sync ``serve`` (tests/test_serve.py), waited
for on the event loop: the stop refuses new connections, wakes the handlers
idle in a receive, cancels the ones still running at the grace deadline and
resets their connections, and ``serve`` returns the same
:class:`~transports._core.serving.Served`. Every test runs on asyncio and
uvloop, and no task or thread outlives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import select
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import test_aio
from conftest import TIMEOUT
from test_aio import Loop, spin, turns
from test_aio_listeners import _client, _listen
from transports import ConnectionRefused, ConnectionReset, TransportClosed, TransportError, aio
from transports._core.serving import Served

#: The fixture: one loop of each kind (asyncio, uvloop), and no task or thread left when the test ends.
aloop = test_aio.aloop

KINDS = ["tcp", "unix", "unixpacket"]
Listener = aio.TCPListener | aio.UnixListener | aio.UnixSeqpacketListener
Conn = aio.TCPTransport | aio.UnixStreamTransport | aio.UnixSeqpacketTransport


def start(
    listener: Listener, handler: Callable[[Any], Awaitable[object]], **kwargs: Any
) -> asyncio.Task[Served]:
    return asyncio.create_task(listener.serve(handler, **kwargs))


@pytest.mark.parametrize("kind", KINDS)
def test_a_handler_idle_in_recv_is_woken_at_stop(aloop: Loop, kind: str, tmp_sock_dir: Path) -> None:
    """Its receive sees end of stream: it ends on its own, long before the grace."""

    async def body() -> None:
        waiting = asyncio.Event()
        seen: list[bytes] = []

        async def handler(conn: Conn) -> None:
            await conn.send(await conn.recv(100))
            waiting.set()
            seen.append(await conn.recv(100))  # idle: the client sends nothing more

        async with await _listen(kind, tmp_sock_dir) as listener:
            server = start(listener, handler, grace=60.0)
            async with await _client(kind, listener) as client:
                await client.send(b"ping")
                assert await client.recv(100) == b"ping"
                await waiting.wait()
                await turns(3)  # the handler is waiting in recv now
                listener.close()
                assert await server == Served(accepted=1, failed=0, cut=())
                assert await client.recv(100) == b""  # the handler closed its end: no reset
        assert seen == [b""]

    aloop.run(body())


def test_a_busy_handler_past_the_grace_is_cancelled_cut_and_reported(aloop: Loop) -> None:
    async def body() -> None:
        busy = asyncio.Event()
        cancelled: list[str] = []

        async def handler(conn: aio.TCPTransport) -> None:
            busy.set()
            try:
                await asyncio.Event().wait()  # busy with something else than the connection, forever
            except asyncio.CancelledError:
                cancelled.append("handler")
                raise

        async with await aio.TCPListener.listen("127.0.0.1", 0) as listener:
            server = start(listener, handler, grace=0.05)
            async with await _client("tcp", listener) as client:
                await busy.wait()
                listener.close()
                served = await server
                assert served == Served(accepted=1, failed=0, cut=(client.local_address,))
                assert served.finished == 0
                assert cancelled == ["handler"]
                with pytest.raises(ConnectionReset):  # Linger(0): a reset, not an orderly end
                    await client.recv(100)

    aloop.run(body())


def test_handlers_that_end_within_the_grace_are_not_cut(aloop: Loop) -> None:
    async def body() -> None:
        entered, release = asyncio.Event(), asyncio.Event()

        async def handler(conn: aio.TCPTransport) -> None:
            entered.set()
            await release.wait()
            await conn.send_all(b"done")

        async with await aio.TCPListener.listen("127.0.0.1", 0) as listener:
            server = start(listener, handler, grace=60.0)
            async with await aio.TCPTransport.connect(
                "127.0.0.1", listener.address.port, timeout=TIMEOUT
            ) as client:
                await entered.wait()
                listener.close()
                await turns(5)
                assert not server.done(), "serve waits within the grace"
                release.set()
                assert await server == Served(accepted=1, failed=0, cut=())
                assert await client.recv_exactly(4) == b"done"

    aloop.run(body())


@pytest.mark.parametrize("kind", KINDS)
def test_no_connection_is_accepted_once_the_stop_began(aloop: Loop, kind: str, tmp_sock_dir: Path) -> None:
    """While a handler still runs in its grace, a new connect is refused: the listening socket is gone."""

    async def body() -> None:
        entered, release = asyncio.Event(), asyncio.Event()

        async def handler(conn: Conn) -> None:
            entered.set()
            await release.wait()

        async with await _listen(kind, tmp_sock_dir) as listener:
            address = listener.address
            server = start(listener, handler)
            async with await _client(kind, listener):
                await entered.wait()
                listener.close()
                try:
                    if kind == "tcp":
                        with pytest.raises(ConnectionRefused):
                            await aio.TCPTransport.connect("127.0.0.1", address.port, timeout=TIMEOUT)  # type: ignore[union-attr]  # an InetAddress for tcp
                    else:  # close() removed the socket file
                        with pytest.raises(TransportError) as refused:
                            await aio.UnixStreamTransport.connect(address, timeout=TIMEOUT)  # type: ignore[arg-type]  # a UnixAddress for unix
                        assert refused.value.errno == errno.ENOENT
                finally:
                    release.set()
                assert await server == Served(accepted=1, failed=0, cut=())

    aloop.run(body())


def test_max_connections_holds_the_limit(aloop: Loop, tmp_sock_dir: Path) -> None:
    """The third connection waits in the backlog, not accepted, until a handler ends."""

    async def body() -> None:
        entered: list[int] = []
        releases = [asyncio.Event() for _ in range(3)]
        active = [0, 0]  # now, most ever

        async def handler(conn: aio.UnixStreamTransport) -> None:
            index = (await conn.recv_exactly(1))[0]
            active[0] += 1
            active[1] = max(active)
            entered.append(index)
            await releases[index].wait()
            active[0] -= 1

        async with await aio.UnixListener.listen(tmp_sock_dir / "serve.sock", timeout=TIMEOUT) as listener:
            server = start(listener, handler, max_connections=2)
            async with contextlib.AsyncExitStack() as stack:
                clients = [
                    await stack.enter_async_context(
                        await aio.UnixStreamTransport.connect(listener.address, timeout=TIMEOUT)
                    )
                    for _ in range(3)
                ]
                for index, client in enumerate(clients):
                    await client.send(bytes([index]))
                await spin(lambda: len(entered) == 2, "two handlers run")
                poller = select.poll()
                poller.register(listener.fileno(), select.POLLIN)
                await turns(20)
                # The third connection is queued in the kernel: the listener is readable, nobody accepts it.
                assert len(entered) == 2
                assert poller.poll(0)
                releases[entered[0]].set()
                await spin(lambda: len(entered) == 3, "the third handler runs once one ended")
                assert sorted(entered) == [0, 1, 2]
                for release in releases:
                    release.set()
            listener.close()
            assert (await server).accepted == 3
        assert active == [0, 2]

    aloop.run(body())


def test_a_handler_may_stop_the_server(aloop: Loop) -> None:
    async def body() -> None:
        async with await aio.TCPListener.listen("127.0.0.1", 0) as listener:

            async def handler(conn: aio.TCPTransport) -> None:
                if await conn.recv(100) == b"stop":
                    listener.close()
                    await conn.send_all(b"stopping")

            server = start(listener, handler, grace=60.0)
            port = listener.address.port
            async with (
                await aio.TCPTransport.connect("127.0.0.1", port, timeout=TIMEOUT) as idle,
                await aio.TCPTransport.connect("127.0.0.1", port, timeout=TIMEOUT) as stopper,
            ):
                await stopper.send_all(b"stop")
                assert await stopper.recv_exactly(8) == b"stopping"
                assert await server == Served(accepted=2, failed=0, cut=())
                assert await idle.recv(10) == b""  # the idle one was woken and ended

    aloop.run(body())


def test_bad_arguments_are_refused_before_serving(aloop: Loop) -> None:
    async def body() -> None:
        async def handler(conn: aio.TCPTransport) -> None:
            raise AssertionError("never called")

        async with await aio.TCPListener.listen("127.0.0.1", 0) as listener:
            with pytest.raises(ValueError, match="grace must be a finite number of seconds >= 0"):
                await listener.serve(handler, grace=-1)
            with pytest.raises(TypeError, match="max_connections must be an int or None"):
                await listener.serve(handler, max_connections=2.0)  # type: ignore[arg-type]  # the wrong type on purpose
            assert not listener.closed

    aloop.run(body())


# -- aclose() ---------------------------------------------------------------------------------------


def test_aclose_closes_and_lets_the_woken_tasks_run(aloop: Loop) -> None:
    async def body() -> None:
        a, b = aio.UnixStreamTransport.pair()
        async with b:
            receiving = asyncio.create_task(a.recv(10))
            await turns(2)  # waiting on the loop now
            await a.aclose()
            assert a.closed
            assert receiving.done(), "aclose let the woken receive run"
            with pytest.raises(TransportClosed):
                receiving.result()
            await a.aclose()  # closing again does nothing

    aloop.run(body())


def test_aclose_closes_even_when_cancelled(aloop: Loop) -> None:
    async def body() -> None:
        listener = await aio.TCPListener.listen("127.0.0.1", 0)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0):
                await listener.aclose()
        assert listener.closed

    aloop.run(body())
