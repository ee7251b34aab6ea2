"""Async constructors, URL entry points and listeners: accept, iteration, serve() and clean shutdown."""

from __future__ import annotations

import asyncio
import inspect
import os
import re
import socket
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import HAS_IPV6, TIMEOUT, needs_ipv6
from test_aio import LOOPS, Loop, turns
from transports import (
    AddressError,
    AddressInUse,
    ConnectionRefused,
    InetAddress,
    PeerRejected,
    TransportClosed,
    TransportError,
    TransportTimeout,
    UnixAddress,
    UnknownScheme,
    WouldBlock,
    aio,
)
from transports.options import SO_KEEPALIVE, TCP_NODELAY


@pytest.fixture(params=LOOPS)
def aloop(request: pytest.FixtureRequest) -> Iterator[Loop]:
    """An event loop of each kind; no task may outlive the test."""
    loop = Loop(request.param)
    try:
        yield loop
    finally:
        loop.close()


Listeners = aio.TCPListener | aio.UnixListener | aio.UnixSeqpacketListener


async def _listen(kind: str, directory: Path) -> Listeners:
    if kind == "tcp":
        return await aio.TCPListener.listen("127.0.0.1", 0, timeout=TIMEOUT)
    if kind == "unix":
        return await aio.UnixListener.listen(directory / "serve.sock", timeout=TIMEOUT)
    return await aio.UnixSeqpacketListener.listen(directory / "serve.sock", timeout=TIMEOUT)


async def _client(
    kind: str, listener: Listeners
) -> aio.TCPTransport | aio.UnixStreamTransport | aio.UnixSeqpacketTransport:
    address = listener.address
    if isinstance(address, InetAddress):
        return await aio.TCPTransport.connect("127.0.0.1", address.port, timeout=TIMEOUT)
    if kind == "unix":
        return await aio.UnixStreamTransport.connect(address, timeout=TIMEOUT)
    return await aio.UnixSeqpacketTransport.connect(address, timeout=TIMEOUT)


LISTENER_KINDS = ["tcp", "unix", "unixpacket"]


# -- constructors and URLs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "host"),
    [
        pytest.param("tcp", "127.0.0.1", id="tcp"),
        pytest.param("tcp4", "127.0.0.1", id="tcp4"),
        pytest.param("tcp6", "[::1]", id="tcp6", marks=needs_ipv6),
    ],
)
def test_tcp_urls(aloop: Loop, scheme: str, host: str) -> None:
    async def body() -> None:
        async with await aio.listen(f"{scheme}://{host}:0", timeout=TIMEOUT) as listener:
            assert type(listener) is aio.TCPListener
            address = listener.address
            assert isinstance(address, InetAddress)
            async with await aio.connect(f"{scheme}://{host}:{address.port}", timeout=TIMEOUT) as client:
                async with await listener.accept() as server:
                    assert type(client) is aio.TCPTransport
                    assert client.timeout == TIMEOUT
                    assert server.timeout is None
                    assert client.remote_address == address
                    await client.send(b"via url")
                    assert await server.recv(100) == b"via url"

    aloop.run(body())


@pytest.mark.parametrize("scheme", ["unix", "unixpacket"])
def test_unix_connection_urls(aloop: Loop, scheme: str, tmp_sock_dir: Path) -> None:
    path = tmp_sock_dir / "url.sock"

    async def body() -> None:
        async with await aio.listen(f"{scheme}://{path}", mode=0o640, timeout=TIMEOUT) as listener:
            assert listener.address == UnixAddress(os.fspath(path))
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
            async with await aio.connect(f"{scheme}://{path}", timeout=TIMEOUT) as client:
                async with await listener.accept() as server:
                    await client.send(b"over unix")
                    assert await server.recv(100) == b"over unix"
        assert not path.exists()

    aloop.run(body())


def test_datagram_urls(aloop: Loop, tmp_sock_dir: Path) -> None:
    async def body() -> None:
        async with await aio.bind("udp://127.0.0.1:0", timeout=TIMEOUT) as server:
            assert isinstance(server, aio.UDPTransport)
            async with await aio.connect(f"udp://127.0.0.1:{server.local_address.port}") as client:
                await client.send(b"udp")
                assert await server.recv(10) == b"udp"
        path = tmp_sock_dir / "gram.sock"
        async with await aio.bind(f"unixgram://{path}", timeout=TIMEOUT) as gram:
            assert isinstance(gram, aio.UnixDatagramTransport)
            async with await aio.connect(f"unixgram://{path}") as client:
                await client.send(b"gram")
                assert await gram.recv(10) == b"gram"
        assert not path.exists()
        async with await aio.bind("unixgram:") as autobound:
            assert isinstance(autobound.local_address, UnixAddress)

    aloop.run(body())


def test_url_mistakes(aloop: Loop) -> None:
    async def body() -> None:
        with pytest.raises(UnknownScheme) as info:
            await aio.connect("nothing://here")
        assert "tcp" in info.value.known
        with pytest.raises(AddressError, match="datagrams have no connections"):
            await aio.listen("udp://127.0.0.1:0")
        with pytest.raises(AddressError, match=r"aio\.listen"):
            await aio.bind("tcp://127.0.0.1:0")
        with pytest.raises(AddressError, match="a host is needed"):
            await aio.connect("tcp://:80")
        with pytest.raises(AddressError, match="path or @name"):
            await aio.listen("unix:")
        with pytest.raises(ValueError, match="socketpair kind"):
            aio.socketpair("sideways")  # type: ignore[call-overload]

    aloop.run(body())


def test_socketpair_kinds(aloop: Loop) -> None:
    async def body() -> None:
        async def check(pair: tuple[aio.Transport, aio.Transport], cls: type[aio.Transport]) -> None:
            a, b = pair
            async with a, b:
                assert type(a) is cls
                b.timeout = TIMEOUT
                await a.send(b"pair")
                assert await b.recv(10) == b"pair"

        await check(aio.socketpair(), aio.UnixStreamTransport)
        await check(aio.socketpair("datagram"), aio.UnixDatagramTransport)
        await check(aio.socketpair("seqpacket"), aio.UnixSeqpacketTransport)

    aloop.run(body())


def test_connect_refused_and_options(aloop: Loop, tmp_sock_dir: Path) -> None:
    async def body() -> None:
        with socket.socket() as probe:  # a port nobody listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        with pytest.raises(ConnectionRefused) as info:
            await aio.TCPTransport.connect("127.0.0.1", port, timeout=TIMEOUT)
        assert info.value.op == "connect"
        assert f"127.0.0.1:{port}" in str(info.value)
        with pytest.raises(TransportError, match="no socket file"):
            await aio.UnixStreamTransport.connect(tmp_sock_dir / "missing.sock", timeout=TIMEOUT)
        async with await aio.TCPListener.listen("127.0.0.1", 0) as listener:
            async with await aio.TCPTransport.connect(
                "127.0.0.1",
                listener.address.port,
                timeout=TIMEOUT,
                options=[TCP_NODELAY(True), SO_KEEPALIVE(True)],
            ) as client:
                assert client.get_option(TCP_NODELAY) is True
                assert client.get_option(SO_KEEPALIVE) is True
                client.set_option(TCP_NODELAY, False)
                assert client.get_option(TCP_NODELAY) is False
                (await listener.accept()).close()

    aloop.run(body())


def test_connect_by_name_uses_the_executor(aloop: Loop) -> None:
    async def body() -> None:
        async with await aio.TCPListener.listen("localhost", 0, family="ipv4") as listener:
            port = listener.address.port
            async with await aio.TCPTransport.connect("localhost", port, family="ipv4", timeout=TIMEOUT):
                (await listener.accept()).close()
        with pytest.raises(AddressError):
            await aio.TCPTransport.connect("bad host", 80)

    aloop.run(body())


def test_from_socket_makes_it_non_blocking(aloop: Loop) -> None:
    async def body() -> None:
        left, right = socket.socketpair()
        async with aio.UnixStreamTransport.from_socket(left) as a, aio.UnixStreamTransport(right) as b:
            assert left.gettimeout() == 0
            b.timeout = TIMEOUT
            await a.send_all(b"wrapped")
            assert await b.recv_exactly(7) == b"wrapped"
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with pytest.raises(ValueError, match="needs a stream socket"):
            aio.TCPTransport(udp)
        udp.close()

    aloop.run(body())


def test_unix_connect_waits_out_a_full_backlog(aloop: Loop, tmp_sock_dir: Path) -> None:
    path = tmp_sock_dir / "busy.sock"

    async def body() -> None:
        async with await aio.UnixListener.listen(path, backlog=0) as listener:
            waiting: list[socket.socket] = []
            try:
                while True:  # fill the queue with connections nobody accepts yet
                    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    sock.setblocking(False)
                    try:
                        sock.connect(os.fspath(path))
                    except BlockingIOError:
                        sock.close()
                        break
                    waiting.append(sock)
                with pytest.raises(TransportTimeout, match="connect to"):
                    await aio.UnixStreamTransport.connect(path, timeout=0.05)
                client = asyncio.create_task(aio.UnixStreamTransport.connect(path, timeout=TIMEOUT))
                await turns(3)
                assert not client.done()
                (await listener.accept()).close()  # room in the queue: the retry gets in
                async with await client as connected:
                    assert connected.remote_address == listener.address
                for _ in waiting:  # the first accept took one of these; the client took its place
                    (await listener.accept()).close()
            finally:
                for sock in waiting:
                    sock.close()

    aloop.run(body())


def test_unix_listener_file_rules_are_the_sync_ones(aloop: Loop, tmp_sock_dir: Path) -> None:
    path = tmp_sock_dir / "taken.sock"

    async def body() -> None:
        async with await aio.UnixListener.listen(path):
            with pytest.raises(AddressInUse, match="another process is listening"):
                await aio.UnixListener.listen(path)
        path.write_text("not a socket")
        with pytest.raises(AddressInUse, match="regular file"):
            await aio.UnixListener.listen(path)
        assert path.read_text() == "not a socket"

    aloop.run(body())


# -- accepting ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", LISTENER_KINDS)
def test_accept_and_iterate_until_closed(aloop: Loop, kind: str, tmp_sock_dir: Path) -> None:
    async def body() -> None:
        listener = await _listen(kind, tmp_sock_dir)
        async with listener:
            assert isinstance(listener, aio.Listener)
            assert "aio." in repr(listener)
            clients = [await _client(kind, listener) for _ in range(3)]
            accepted = []
            async for conn in listener:
                accepted.append(conn)
                if len(accepted) == 3:
                    listener.close()
            assert len(accepted) == 3
            for conn in accepted + clients:
                conn.close()
            with pytest.raises(TransportClosed):
                await listener.accept()
        assert "closed" in repr(listener)

    aloop.run(body())


def test_accept_timeout_and_close_wakes_accept(aloop: Loop) -> None:
    async def body() -> None:
        async with await aio.TCPListener.listen("127.0.0.1", 0, timeout=0.05) as listener:
            with pytest.raises(TransportTimeout) as info:
                await listener.accept()
            assert info.value.op == "accept"
            listener.timeout = None
            acceptor = asyncio.create_task(listener.accept())
            await turns(3)
            listener.close()
            with pytest.raises(TransportClosed):
                await acceptor

    aloop.run(body())


def test_cancelled_accept_loses_no_connection(aloop: Loop) -> None:
    async def body() -> None:
        async with await aio.TCPListener.listen("127.0.0.1", 0, timeout=TIMEOUT) as listener:
            cancelled = 0
            for delay in range(6):
                acceptor = asyncio.create_task(listener.accept())
                await turns(1)
                # A blocking connect: the kernel completes it without the loop turning.
                client = aio.TCPTransport(socket.create_connection(("127.0.0.1", listener.address.port)))
                await turns(delay)
                acceptor.cancel()
                try:
                    server = await acceptor
                except asyncio.CancelledError:
                    cancelled += 1
                    server = await listener.accept()  # the connection is still queued
                async with client, server:
                    await client.send(b"hello")
                    assert await server.recv(10) == b"hello"
            assert cancelled

    aloop.run(body())


def test_rejected_peers_are_skipped(aloop: Loop, tmp_sock_dir: Path) -> None:
    path = tmp_sock_dir / "guarded.sock"

    async def body() -> None:
        async with await aio.UnixListener.listen(path, allowed_uids={os.getuid() + 1}) as listener:
            async with await aio.UnixStreamTransport.connect(path, timeout=TIMEOUT):
                with pytest.raises(PeerRejected):
                    await listener.accept()
            async with await aio.UnixStreamTransport.connect(path, timeout=TIMEOUT):
                listener.timeout = 0.05
                with pytest.raises(TransportTimeout):  # iteration skips the rejected peer, then waits
                    await anext(listener)

    aloop.run(body())


# -- serve() -------------------------------------------------------------------------------------


async def _echo(conn: aio.Transport) -> None:
    conn.timeout = TIMEOUT
    while data := await conn.recv(65536):
        await conn.send(data)


@pytest.mark.parametrize("kind", LISTENER_KINDS)
def test_serve_runs_a_task_per_connection(
    aloop: Loop, kind: str, tmp_sock_dir: Path, fd_count: Callable[[], int]
) -> None:
    async def body() -> None:
        listener = await _listen(kind, tmp_sock_dir)
        server = asyncio.create_task(listener.serve(_echo))
        clients = [await _client(kind, listener) for _ in range(5)]
        for index, client in enumerate(clients):  # every echo answers while the others wait
            await client.send(b"hello %d" % index)
        for index, client in enumerate(clients):
            assert await client.recv(100) == b"hello %d" % index
        for client in clients:
            client.shutdown("write")
            assert await client.recv(100) == b""  # the handler ended and closed its end
            client.close()
        listener.close()
        await server  # returns once the listener is closed and the handlers are done
        assert listener.closed

    before = fd_count()
    aloop.run(body())
    assert fd_count() == before


def test_close_lets_running_handlers_finish(aloop: Loop) -> None:
    async def body() -> None:
        finished: list[bytes] = []
        entered, release = asyncio.Event(), asyncio.Event()

        async def handler(conn: aio.TCPTransport) -> None:
            entered.set()
            await release.wait()
            finished.append(await conn.recv(100))

        listener = await aio.TCPListener.listen("127.0.0.1", 0)
        server = asyncio.create_task(listener.serve(handler))
        async with await aio.TCPTransport.connect("127.0.0.1", listener.address.port) as client:
            await client.send(b"in flight")
            await entered.wait()
            listener.close()
            await turns(5)
            assert not server.done(), "serve waits for its handlers"
            release.set()
            await server
        assert finished == [b"in flight"]

    aloop.run(body())


def test_cancelling_serve_cancels_the_handlers(aloop: Loop, fd_count: Callable[[], int]) -> None:
    async def body() -> None:
        started = asyncio.Event()
        cancelled: list[str] = []
        served: list[aio.TCPTransport] = []

        async def handler(conn: aio.TCPTransport) -> None:
            served.append(conn)
            started.set()
            try:
                await asyncio.Event().wait()  # forever
            except asyncio.CancelledError:
                cancelled.append("handler")
                raise

        async with await aio.TCPListener.listen("127.0.0.1", 0) as listener:
            server = asyncio.create_task(listener.serve(handler))
            async with await aio.TCPTransport.connect("127.0.0.1", listener.address.port) as client:
                await started.wait()
                server.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await server
                assert cancelled == ["handler"]
                assert served[0].closed
                client.timeout = TIMEOUT
                assert await client.recv(10) == b""  # the server's end was closed
            assert not listener.closed  # the listener belongs to its owner

    before = fd_count()
    aloop.run(body())
    assert fd_count() == before


def test_a_failing_handler_is_reported_and_serving_goes_on(aloop: Loop) -> None:
    async def body() -> None:
        reports: list[dict[str, Any]] = []
        asyncio.get_running_loop().set_exception_handler(lambda _, context: reports.append(context))

        async def handler(conn: aio.TCPTransport) -> None:
            request = await conn.recv(100)
            if request == b"fail":
                raise RuntimeError("the handler broke")
            await conn.send(b"ok")

        async with await aio.TCPListener.listen("127.0.0.1", 0) as listener:
            server = asyncio.create_task(listener.serve(handler))
            port = listener.address.port
            async with await aio.TCPTransport.connect("127.0.0.1", port, timeout=TIMEOUT) as bad:
                await bad.send(b"fail")
                assert await bad.recv(10) == b""
            async with await aio.TCPTransport.connect("127.0.0.1", port, timeout=TIMEOUT) as good:
                await good.send(b"work")
                assert await good.recv(10) == b"ok"
            listener.close()
            await server
        assert len(reports) == 1
        assert isinstance(reports[0]["exception"], RuntimeError)
        assert isinstance(reports[0]["connection"], aio.TCPTransport)
        assert "the handler failed" in reports[0]["message"]

    aloop.run(body())


def test_listener_protocol_and_wouldblock(aloop: Loop) -> None:
    async def body() -> None:
        async with await aio.TCPListener.listen("127.0.0.1", 0, timeout=0) as listener:
            with pytest.raises(WouldBlock):
                await listener.accept()
            assert listener.fileno() >= 0

    aloop.run(body())


@pytest.mark.skipif(not HAS_IPV6, reason="IPv6 loopback (::1) is not available")
def test_dual_stack_listener(aloop: Loop) -> None:
    async def body() -> None:
        async with await aio.TCPListener.listen("", 0, dual_stack=True) as listener:
            port = listener.address.port
            for host in ("127.0.0.1", "::1"):
                async with await aio.TCPTransport.connect(host, port, timeout=TIMEOUT):
                    (await listener.accept()).close()

    aloop.run(body())


# -- documentation ----------------------------------------------------------------------------------


_CITED = r"(?:APUE |:apue:`)\d+\.\d+"


def test_every_public_name_names_its_apue_sections() -> None:
    """Classes and functions name 16.8 and 14.4 (waiting on a loop) besides their own section.

    Every coroutine method cites a section too; properties do not (their class does).
    """
    missing = []
    for name in aio.__all__:
        doc = getattr(aio, name).__doc__ or ""
        if not re.search(_CITED, doc) or "16.8" not in doc or "14.4" not in doc:
            missing.append(name)
    concrete = [getattr(aio, name) for name in aio.__all__ if name.endswith(("Transport", "Listener"))]
    for cls in concrete:
        if getattr(cls, "_is_protocol", False):
            continue
        for klass in cls.__mro__:
            if not klass.__module__.startswith("transports.aio"):
                continue
            for attr, member in vars(klass).items():
                public = not attr.startswith("_") and inspect.iscoroutinefunction(member)
                if public and not re.search(_CITED, member.__doc__ or ""):
                    missing.append(f"{klass.__name__}.{attr}")
    assert sorted(set(missing)) == []
